"""`claw-nb models`: what a run could talk to (the report is `claw_nb.model.resolve.describe_models`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from claw_nb.config import ClawConfig
from claw_nb.model.resolve import describe_models

HELP = "list model servers, local GGUFs and the embedded model"


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help=HELP)
    models.add_argument("--cwd", type=Path, help="workspace directory (for its settings file)")
    models.add_argument("--db", type=Path, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, config: ClawConfig) -> int:
    print(describe_models(config))
    return 0
