"""What `claw-nb run` loads before its first request: only what a session needs (issue 23)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from claw_nb.cli import build_parser
from claw_nb.cli.lab_optimize import HELP
from claw_nb.lab.optimize.command_options import OPTIMIZE_HELP


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
