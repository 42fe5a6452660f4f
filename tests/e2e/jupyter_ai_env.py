"""Where the Jupyter AI tests find Jupyter AI: a Python of its own, usually a virtualenv.

jupyter-ai 3.2 needs jupyter-ai-acp-client 0.3.3, which pins agent-client-protocol <0.12; the
main environment has 0.12, and installing Jupyter AI there would downgrade it for everything
else. So `.ci/run` builds `.venv-jupyter-ai/` in the checkout with `--system-site-packages`: it
sees claw_nb (and its `jupyter_ai.personas` entry point), JupyterLab and the rest from the main
environment and shadows only what Jupyter AI pins. The Jupyter server of these tests runs on that
interpreter, and so does the persona's `claw-nb acp` (it starts from the server's Python).

The interpreter used, first match: `CLAW_NB_JUPYTER_AI_PYTHON`; `.venv-jupyter-ai/bin/python`
in the checkout; the running interpreter when it has Jupyter AI itself.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import pytest

from tests.e2e.lab import ROOT

VARIABLE = "CLAW_NB_JUPYTER_AI_PYTHON"
VENV_PYTHON = ROOT / ".venv-jupyter-ai" / "bin" / "python"
SETUP = (
    "python -m venv --system-site-packages .venv-jupyter-ai && .venv-jupyter-ai/bin/python "
    "-m pip install jupyter-ai==3.2.0 jupyter-ai-acp-client==0.3.3 "
    "'agent-client-protocol>=0.11,<0.12'"
)
# What the tests need of that interpreter: Jupyter AI's chat, its persona manager and ACP
# client, JupyterLab, and claw's persona registered under its entry point.
PROBE = """
import jupyter_ai_acp_client, jupyter_ai_persona_manager, jupyterlab, jupyterlab_chat
from importlib.metadata import entry_points
if not any(ep.name == "claw" for ep in entry_points(group="jupyter_ai.personas")):
    raise SystemExit("claw_nb's jupyter_ai.personas entry point is not installed (pip install -e .)")
"""


@functools.cache
def _find() -> tuple[str | None, str]:
    """(the interpreter, "") or (None, why there is none)."""
    named = os.environ.get(VARIABLE)
    candidates = [named] if named else [str(VENV_PYTHON), sys.executable]
    reasons = []
    for python in candidates:
        if python != sys.executable and not os.path.exists(python):
            reasons.append(f"{python} does not exist")
            continue
        probe = subprocess.run(
            [python, "-c", PROBE],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if probe.returncode == 0:
            return python, ""
        lines = (probe.stderr or probe.stdout).strip().splitlines() or [f"exit {probe.returncode}"]
        reasons.append(f"{python}: {lines[-1]}")
    return None, "; ".join(reasons)


def jupyter_ai_python() -> str:
    """The interpreter with Jupyter AI 3, or skip the test saying how to make one."""
    python, why = _find()
    if python is None:
        pytest.skip(f"no Python with Jupyter AI 3 ({why}); set {VARIABLE} or run: {SETUP}")
    return python
