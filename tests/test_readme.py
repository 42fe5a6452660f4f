"""README's Python snippets run as printed, against the scripted model server.

The CLAW_* environment points the library at the scripted server (what README says a model
comes from when `model=` is not given); each snippet runs in a fresh interpreter in one
workspace, in README's order, so the analysis snippet reads the log the library one wrote.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import scripted_env

ROOT = Path(__file__).resolve().parents[1]
# A whole lab run over the built-in suite needs a real model and minutes per trial; the lab's
# own tests run the same API on a scripted model (tests/lab/test_runner.py).
NOT_RUN = {"lab.run(": "a real lab run over the built-in suite"}


def _snippets() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return [
        b
        for b in blocks
        if not b.lstrip().startswith("%") and not any(marker in b for marker in NOT_RUN)
    ]


def test_readme_has_runnable_snippets():
    assert len(_snippets()) >= 2


def test_readme_python_snippets_run_as_printed(scripted_server, workspace):
    from claw_nb.testing import text

    scripted_server.queue(text("The test passes now."))
    env = scripted_env(scripted_server)
    env.pop("CLAW_DB", None)
    outputs = []
    for snippet in _snippets():
        done = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{snippet}\n--- stderr ---\n{done.stderr}"
        outputs.append(done.stdout)
    assert "completed The test passes now." in outputs[0]
    assert (workspace / "out").is_dir()  # the analysis snippet's export
