"""notebooks/quickstart.ipynb runs top to bottom without a model (the scripted demo server).

Once under `pytest --nbval-lax` (what CI promises), once through nbclient (what
`jupyter nbconvert --execute` does) to check that the executed notebook holds the transcript.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import assert_nbval_passes, notebook_env

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "notebooks" / "quickstart.ipynb"

pytestmark = pytest.mark.slow


def _demo_env() -> dict[str, str]:
    """This environment without a configured model or a Jupyter front end."""
    env = notebook_env()
    env["CLAW_DEMO"] = "scripted"  # even where a local Ollama would be found
    return env


def test_quickstart_passes_nbval(tmp_path):
    pytest.importorskip("nbval", reason="runs the notebook under nbval (in the [test] extra)")
    assert_nbval_passes(QUICKSTART, tmp_path, _demo_env(), timeout=600)


def test_executed_quickstart_holds_the_whole_transcript(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for key, value in _demo_env().items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("CLAW_") and k != "CLAW_DEMO"]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    nb = nbformat.read(QUICKSTART, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    def output_of(fragment: str) -> str:
        cell = next(c for c in nb.cells if c.cell_type == "code" and fragment in c.source)
        parts = []
        for o in cell.outputs:
            assert o.output_type != "error", f"{o.ename}: {o.evalue}"
            parts.append(o.get("text") or o.get("data", {}).get("text/plain", ""))
        return "".join(parts)

    assert "no model configured: using the scripted demo server" in output_of("ollama_has")
    first = output_of("Fix utils.py")
    assert "-> read_file" in first and "-> edit_file" in first and "-> write_file" in first
    assert "+        return 0.0" in first
    assert "claw: changed utils.py (edited, +3 -0); test_utils.py (new, +13 -0)" in first
    assert "stopped (completed)" in first
    answers = [
        o
        for c in nb.cells
        if c.cell_type == "code" and "Fix utils.py" in c.source
        for o in c.outputs
        if "text/markdown" in o.get("data", {})
    ]
    assert len(answers) == 1  # the final answer as rendered Markdown, once
    second = output_of("Now run the tests.")
    assert "-> run_command" in second and "permission denied" in second
    assert "I could not run the tests" in second
    assert "return 0.0" in output_of('print((project / "utils.py")')
    assert "session_id" in output_of("%claw sessions")
    assert "run_command" in output_of("log = %claw log")


TOKEN_USAGE = ROOT / "notebooks" / "token_usage.ipynb"


def test_token_usage_notebook_runs_on_a_log_made_by_real_runs(claw_env, tmp_path):
    """The analysis notebook under nbval, reading a database that real CLI runs wrote."""
    pytest.importorskip("nbval", reason="runs the notebook under nbval (in the [test] extra)")
    pytest.importorskip("matplotlib")
    from claw_nb.cli import main
    from claw_nb.testing import call, text, tool_calls

    (claw_env.workspace / "a.txt").write_text("alpha\n")
    claw_env.server.queue(
        tool_calls(call("read_file", {"path": "a.txt"})),
        tool_calls(call("grep", {"pattern": "al"})),
        text("done"),
        text("second session"),
    )
    assert main(["run", "--cwd", str(claw_env.workspace), "read a.txt"]) == 0
    assert main(["run", "--cwd", str(claw_env.workspace), "--model", "openai/other", "hi"]) == 0
    env = _demo_env()
    env["CLAW_DB"] = str(claw_env.db)
    assert_nbval_passes(TOKEN_USAGE, tmp_path, env, timeout=600)


PROMPT_LAB = ROOT / "notebooks" / "prompt_lab.ipynb"


def test_prompt_lab_notebook_passes_nbval(tmp_path):
    """compare, leaderboard, heatmap, power planner and a small reflect run, scripted server."""
    pytest.importorskip("nbval", reason="runs the notebook under nbval (in the [test] extra)")
    pytest.importorskip("gepa", reason="the reflect cells need the [optimize] extra")
    assert_nbval_passes(PROMPT_LAB, tmp_path, _demo_env(), timeout=900)
