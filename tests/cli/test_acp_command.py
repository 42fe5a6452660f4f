"""`claw-nb acp` as a command: its options, and what it says when the SDK is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from claw_nb.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_acp_takes_the_model_log_and_mode_options():
    args = build_parser().parse_args(
        ["acp", "--model", "openai/x", "--db", "log.duckdb", "--mode", "plan", "--max-steps", "5"]
    )
    assert (args.command, args.model, args.db, args.mode, args.max_steps) == (
        "acp",
        "openai/x",
        Path("log.duckdb"),
        "plan",
        5,
    )


def test_without_the_sdk_acp_says_which_extra_to_install():
    hide_sdk = "import sys; sys.modules['acp'] = None; from claw_nb.cli import main; "
    proc = subprocess.run(
        [sys.executable, "-c", hide_sdk + "raise SystemExit(main(['acp']))"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "pip install -e '.[acp]'" in proc.stderr and proc.stdout == ""
