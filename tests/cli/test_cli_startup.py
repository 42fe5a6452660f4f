"""What `claw-nb run` costs around its session: it loads only what a session needs and leaves
right after the last answer, its journal the record until a reader ingests it (issue 23)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from claw_nb.cli import build_parser
from claw_nb.cli.lab_optimize import HELP
from claw_nb.lab.optimize.command_options import OPTIMIZE_HELP
from claw_nb.log.journal_paths import journal_dir
from claw_nb.log.journal_reader import list_journals
from claw_nb.log.store import list_sessions
from claw_nb.testing import call, text, tool_calls


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return set(out.split())


def test_parsing_a_run_loads_neither_the_optimizer_nor_numpy():
    loaded = _modules_after(
        "from claw_nb.cli import build_parser\nbuild_parser().parse_args(['run', 'task'])"
    )
    assert "claw_nb.lab.optimize" not in loaded
    assert "numpy" not in loaded


def test_lab_optimize_still_parses_its_verbs_and_options():
    args = build_parser().parse_args(["lab", "optimize", "show", "--per-task"])
    assert (args.command, args.lab_command, args.optimize_command) == ("lab", "optimize", "show")
    assert args.per_task is True


def test_lab_optimize_help_lists_the_verbs(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["lab", "optimize", "--help"])
    out = capsys.readouterr().out
    assert all(verb in out for verb in ("compare", "sweep", "reflect", "adopt", "show"))


def test_the_terminal_says_the_optimize_line_the_table_says():
    assert HELP == OPTIMIZE_HELP


def _claw(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "claw_nb", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_a_cli_session_is_journaled_then_every_reader_sees_it(claw_env):
    """The run leaves without opening DuckDB; `sessions`, `show` and `stats` ingest first."""
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "p.txt", "content": "real"})), text("process done")
    )
    ws = claw_env.workspace
    run = _claw("run", "--yes", "--cwd", str(ws), "write p.txt", cwd=ws)
    assert run.returncode == 0, run.stderr
    assert not claw_env.db.exists()  # nothing opened the database on the way out
    assert len(list_journals(journal_dir(claw_env.db))) == 1

    listed = _claw("sessions", "--cwd", str(ws), cwd=ws)
    assert listed.returncode == 0, listed.stderr
    assert "write p.txt" in listed.stdout
    assert list_journals(journal_dir(claw_env.db)) == []  # ingested, then removed
    session_id = str(list_sessions(claw_env.db)["session_id"][0])
    shown = _claw("show", "--cwd", str(ws), session_id[:8], cwd=ws)
    stats = _claw("stats", "--cwd", str(ws), cwd=ws)
    assert "process done" in shown.stdout, shown.stderr
    assert "write p.txt" in stats.stdout, stats.stderr
