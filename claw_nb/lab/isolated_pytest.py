"""pytest for the lab's verifier, run as ``"$PYTHON" -I "$LAB_PYTEST" ARGS...``.

Copied into the trial's ``.lab/`` by the host and run inside the sandbox; it imports nothing of
claw_nb. ``-I`` keeps the workspace off ``sys.path`` while Python starts and pytest loads (no
``pytest.py``, ``sitecustomize.py`` or stdlib-named module of the agent's can stand in for
them, PYTHON* variables and the user's site folder are ignored); only then is the workspace
*appended*, so the tests can import the code under test but nothing else from it.
"""

import os
import sys

import pytest

if __name__ == "__main__":
    sys.path.append(os.environ.get("WORKSPACE") or os.getcwd())
    sys.exit(pytest.main(["-p", "no:cacheprovider", *sys.argv[1:]]))
