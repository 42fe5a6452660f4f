"""`claw-nb calibrate`: measure the call formats of a model and keep the best (`claw_nb.calibrate`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from claw_nb.config import ClawConfig

DEFAULT_REPEATS = 2


HELP = "measure which tool-call format a model handles best and keep it as its profile"


def add_parser(sub: argparse._SubParsersAction) -> None:
    cal = sub.add_parser("calibrate", help=HELP)
    cal.add_argument(
        "--model", help="the model to calibrate (default: the one a run would use; env CLAW_MODEL)"
    )
    cal.add_argument("--api-base", help="model server URL (env CLAW_API_BASE)")
    cal.add_argument("--api-key", help="API key (env CLAW_API_KEY)")
    cal.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help=f"rounds of the 4 probes per format (default {DEFAULT_REPEATS})",
    )
    cal.add_argument(
        "--max-tokens",
        type=int,
        help="longest reply per probe (default: the model's max_tokens setting, else 1024)",
    )
    cal.add_argument("--cwd", type=Path, help="workspace directory (for its settings file)")
    cal.add_argument("--db", type=Path, help=argparse.SUPPRESS)


def options(args: argparse.Namespace) -> dict:
    return {
        "model": args.model,
        "api_base": args.api_base,
        "api_key": args.api_key,
        "max_tokens": args.max_tokens,
    }


def run(args: argparse.Namespace, config: ClawConfig) -> int:
    from claw_nb.calibrate.run import calibrate, table
    from claw_nb.errors import ClawError
    from claw_nb.model.resolve import needs_resolution, resolve_config

    if args.repeats < 1:
        print("claw-nb: --repeats must be at least 1", file=sys.stderr)
        return 2
    try:
        if needs_resolution(config):  # the profile is for the model a run would get
            config = resolve_config(config)
        print(f"calibrating {config.model} at {config.effective_api_base or 'its provider'}")
        profile = calibrate(config, repeats=args.repeats, say=lambda line: print(line, flush=True))
    except ClawError as exc:
        print(f"claw-nb: {exc}", file=sys.stderr)
        return 1
    print()
    print(table(profile))
    if not profile.useful:
        return 1
    from claw_nb.calibrate.profile import ProfileStore

    print(f"profile written to {ProfileStore().path}")
    return 0
