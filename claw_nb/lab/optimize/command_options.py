"""The one table of `lab optimize` verbs and options, for both shells.

`claw-nb lab optimize ...` (claw_nb.cli.lab_optimize) and `%claw lab optimize ...`
(claw_nb.jupyter.lab_optimize) build their parsers and help from it, so the terminal and the
notebook take the same words. It lives below the shells because they may not import each other.
"""

from __future__ import annotations

import argparse
from dataclasses import field
from typing import Any

from claw_nb.records import record

RUN_VERBS = ("compare", "sweep", "reflect")
VERBS: dict[str, str] = {
    "compare": "run two or more variants on a task suite; paired statistics vs the baseline",
    "sweep": "one variant per value of a setting (prompt fragments, tools on/off), vs the base",
    "reflect": "evolve the system prompt with gepa on a budget; judged on held-out tasks",
    "adopt": "write a run's winner to .claw/prompts/NAME.toml (and the settings that use it)",
    "show": "the report of a past optimizer run from the log (no name: every run)",
}
ALIASES = {"show": ("report",)}
OPTIMIZE_HELP = "compare, sweep, reflect (gepa), adopt, show"  # claw_nb.cli.lab_optimize too


@record(frozen=True)
class Option:
    """One option: its flags (a bare name is positional), help, the verbs that take it."""

    flags: tuple[str, ...]
    help: str
    verbs: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def usage(self) -> str:
        meta = self.kwargs.get("metavar")
        flag = self.flags[0]
        if not flag.startswith("-"):
            return meta or flag.upper()
        return f"{flag} {meta}" if meta else flag


_ALL = tuple(VERBS)
OPTIONS: tuple[Option, ...] = (
    Option(
        ("tasks",),
        "'builtin', a task directory, a folder of them, or a JSON/YAML file",
        RUN_VERBS,
        {"metavar": "TASKS"},
    ),
    Option(
        ("run",),
        "the run's name (see `show` with no name)",
        ("adopt",),
        {"metavar": "RUN"},
    ),
    Option(("run",), "the run's name", ("show",), {"metavar": "RUN", "nargs": "?"}),
    Option(
        ("--variant",),
        "a variant: NAME=FILE.toml, or NAME alone for the defaults (repeat: two or more)",
        ("compare",),
        {"action": "append", "default": [], "metavar": "NAME=FILE.toml"},
    ),
    Option(
        ("--baseline",),
        "the variant the others are compared with (default: the first)",
        ("compare",),
        {"metavar": "NAME"},
    ),
    Option(
        ("--base",),
        "the variant swept from: NAME=FILE.toml or NAME (default: base, the defaults)",
        ("sweep",),
        {"default": "base", "metavar": "NAME=FILE.toml"},
    ),
    Option(
        ("--set",),
        "a setting and its values, e.g. temperature=0,0.7 (repeatable: a grid)",
        ("sweep",),
        {"action": "append", "default": [], "metavar": "KEY=V1,V2"},
    ),
    Option(
        ("--fragment",),
        "a prompt fragment switched on and off: NAME=TEXT or NAME=@FILE (repeatable)",
        ("sweep",),
        {"action": "append", "default": [], "metavar": "NAME=TEXT"},
    ),
    Option(
        ("--drop-tool",),
        "a tool switched off and on: variants without it too (repeatable)",
        ("sweep",),
        {"action": "append", "default": [], "metavar": "TOOL"},
    ),
    Option(
        ("--add-tool",),
        "a tool the base does not offer, switched on and off (repeatable)",
        ("sweep",),
        {"action": "append", "default": [], "metavar": "TOOL"},
    ),
    Option(
        ("--max-prompt-tokens",),
        "refuse variants whose system prompt + tool schemas exceed N tokens, before any trial",
        ("sweep", "reflect"),
        {"type": int, "metavar": "N"},
    ),
    Option(
        ("--tokenizer",),
        "count prompt tokens with this tokenizer.json, Hugging Face id or GGUF "
        "(default: the settings' tokenizer, else tiktoken)",
        ("compare", "sweep", "reflect"),
        {"metavar": "NAME"},
    ),
    Option(
        ("--max-variants",),
        "refuse a sweep with more variants than this (32)",
        ("sweep",),
        {"type": int, "default": 32, "metavar": "N"},
    ),
    Option(
        ("--seed",),
        "the variant whose texts are evolved: NAME=FILE.toml or NAME (default: the defaults)",
        ("reflect",),
        {"default": "seed", "metavar": "NAME=FILE.toml"},
    ),
    Option(
        ("--reflection-model",),
        "LiteLLM model that proposes new texts (default: the task model)",
        ("reflect",),
        {"metavar": "MODEL"},
    ),
    Option(
        ("--reflection-api-base",),
        "its server URL (default: the task model's)",
        ("reflect",),
        {"metavar": "URL"},
    ),
    Option(
        ("--budget",),
        "rollouts the search may spend on train and validation tasks (30)",
        ("reflect",),
        {"type": int, "default": 30, "metavar": "N"},
    ),
    Option(
        ("--minibatch",),
        "train tasks shown to reflection per proposal (3)",
        ("reflect",),
        {"type": int, "default": 3, "metavar": "N"},
    ),
    Option(
        ("--held-out-repeats",),
        "repeats of the seed-vs-winner check on held-out tasks (3)",
        ("reflect",),
        {"type": int, "default": 3, "metavar": "N"},
    ),
    Option(
        ("--component",),
        "what to evolve: system_prompt (default) or tool:NAME (repeatable)",
        ("reflect",),
        {"action": "append", "default": [], "metavar": "NAME"},
    ),
    Option(
        ("--split",),
        "a JSON/TOML file with train, val and held_out task-name lists (default: 40/30/30)",
        ("reflect",),
        {"metavar": "FILE"},
    ),
    Option(
        ("--repeats",),
        "runs of every variant on every task (1)",
        ("compare", "sweep"),
        {"type": int, "default": 1, "metavar": "N"},
    ),
    Option(
        ("--name",),
        "the run's name; the same name again resumes it",
        RUN_VERBS,
        {"metavar": "NAME"},
    ),
    Option(
        ("--only",),
        "only this task (repeatable)",
        RUN_VERBS,
        {"action": "append", "default": [], "metavar": "TASK"},
    ),
    Option(
        ("--slots",),
        "trials at once locally (default: $CLAW_LAB_SLOTS, [lab] slots, or 1)",
        RUN_VERBS,
        {"type": int, "metavar": "N"},
    ),
    Option(
        ("--ray",),
        "run trials on this Ray cluster ('auto': the one on this machine)",
        RUN_VERBS,
        {"metavar": "ADDRESS"},
    ),
    Option(
        ("--unsandboxed",),
        "run trials without bubblewrap (their commands run unconfined)",
        RUN_VERBS,
        {"action": "store_true"},
    ),
    Option(
        ("--yes", "-y"),
        "start without asking (needed when stdin is not a terminal)",
        RUN_VERBS,
        {"action": "store_true"},
    ),
    Option(
        ("--dry-run",),
        "print the plan and the time estimate, run nothing",
        RUN_VERBS,
        {"action": "store_true"},
    ),
    Option(
        ("--pick",),
        "which variant of a compare or sweep (default: the best)",
        ("adopt",),
        {"metavar": "VARIANT"},
    ),
    Option(
        ("--as",),
        "the prompt's name in .claw/prompts (default: the variant's, or the run's)",
        ("adopt",),
        {"dest": "as_name", "metavar": "NAME"},
    ),
    Option(
        ("--workspace",),
        "the workspace whose .claw/ gets it (default: the current directory)",
        ("adopt",),
        {"metavar": "DIR"},
    ),
    Option(("--per-task",), "also the variant x task table", ("show",), {"action": "store_true"}),
    Option(("--model",), "LiteLLM model string for the trials", RUN_VERBS, {"metavar": "MODEL"}),
    Option(("--api-base",), "model server URL", RUN_VERBS, {"metavar": "URL"}),
    Option(("--api-key",), "API key", RUN_VERBS, {"metavar": "KEY"}),
    Option(("--db",), "DuckDB log file (env CLAW_DB)", _ALL, {"metavar": "FILE"}),
)


def add_optimize_parser(
    subparsers: argparse._SubParsersAction, parser_class: type, add_help: bool = True
) -> argparse.ArgumentParser:
    """Add `optimize VERB ...` to a parser's subcommands, every verb and option from the table."""
    optimize = subparsers.add_parser("optimize", help=OPTIMIZE_HELP, add_help=add_help)
    add_optimize_verbs(optimize, parser_class, add_help)
    return optimize


def add_optimize_verbs(
    optimize: argparse.ArgumentParser, parser_class: type, add_help: bool = True
) -> None:
    """Give the `optimize` parser its verbs and their options, from the table."""
    verbs = optimize.add_subparsers(
        dest="optimize_command", required=True, metavar="VERB", parser_class=parser_class
    )
    for verb, text in VERBS.items():
        parser = verbs.add_parser(
            verb,
            help=text,
            description=text,
            aliases=list(ALIASES.get(verb, ())),
            add_help=add_help,
        )
        for option in OPTIONS:
            if verb in option.verbs:
                parser.add_argument(*option.flags, help=option.help, **option.kwargs)


def canonical_verb(verb: str) -> str:
    """`report` is `show`."""
    return next((v for v, names in ALIASES.items() if verb in names), verb)


def optimize_help(prefix: str) -> str:
    """Every verb with its options, from the table (`%claw lab optimize help`)."""
    lines = []
    for verb, text in VERBS.items():
        lines.append(f"{prefix} {verb}: {text}")
        for option in OPTIONS:
            if verb in option.verbs:
                lines.append(f"    {option.usage():<28}{option.help}")
    return "\n".join(lines) + "\n"
