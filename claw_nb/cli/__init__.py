"""`claw-nb`: the terminal shell over the same API the notebook magics use."""

from __future__ import annotations

import argparse
import os
import sys

from claw_nb.cli import acp, calibrate, hooks, mcp, models, rewind
from claw_nb.cli.approvers import TerminalApprover, approve_all_printed, deny_noninteractive
from claw_nb.cli.parser import EXIT_USAGE, build_parser
from claw_nb.config import ConfigError, load_config

EXIT_OK, EXIT_STOPPED = 0, 1


def run() -> None:
    """The `claw-nb` process: run `main`, flush, and leave without tearing every module down.

    Interpreter teardown after a run costs up to a second (LiteLLM's and DuckDB's modules);
    the log is already flushed and closed by then, so nothing is lost. Only for the CLI
    process: `main()` itself returns normally for callers in a Python session.
    """
    try:
        code = main()
    except SystemExit as exc:  # argparse's --help and usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    from claw_nb import durable

    sandbox = sys.modules.get("claw_nb.sandbox")
    if sandbox is not None:
        sandbox.close_early()  # a sandbox launched for a run that did not start
    durable.wait()  # the edits and the journal are on disk before the process goes
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    from claw_nb import import_guard

    import_guard.install()  # `python -m claw_nb` has the working directory on sys.path
    args = build_parser().parse_args(argv)
    if args.command == "lab":
        from claw_nb.cli.lab import run_lab_command

        return run_lab_command(args)
    if args.command == "acp":  # each session has its own workspace: no config here
        return acp.run(args)
    try:
        config = load_config(
            args.cwd,
            db_path=args.db,
            **_COMMAND_OPTIONS.get(args.command, lambda _args: {})(args),
        )
    except ConfigError as exc:
        print(f"claw-nb: {exc}", file=sys.stderr)
        return EXIT_USAGE
    handler = {
        "run": _cmd_run,
        "sessions": _cmd_sessions,
        "show": _cmd_show,
        "stats": _cmd_stats,
        "models": models.run,
        "calibrate": calibrate.run,
        "rewind": rewind.run,
        "mcp": mcp.run,
        "hooks": hooks.run,
    }[args.command]
    try:
        return handler(args, config)
    except KeyboardInterrupt:
        print("claw-nb: interrupted", file=sys.stderr)
        return 130


def _run_options(args: argparse.Namespace) -> dict:
    return {
        "model": args.model,
        "api_base": args.api_base,
        "api_key": args.api_key,
        "max_steps": args.max_steps,
        "stream": args.stream,
        "num_ctx": args.num_ctx,
        "context_window": args.context_window,
    }


_COMMAND_OPTIONS = {"run": _run_options, "calibrate": calibrate.options}


def _cmd_run(args: argparse.Namespace, config) -> int:
    task = _task_text(args.task)
    if not task:
        print("claw-nb: the task is empty", file=sys.stderr)
        return EXIT_USAGE
    if args.output_format == "text":
        return _run_task(args, config, task, sys.stdout)
    from claw_nb.cli.headless import json_stdout

    with json_stdout() as out:
        return _run_task(args, config, task, out)


def _task_text(words: list[str]) -> str:
    """The task from the command line, or from stdin for `-` (a long or generated task)."""
    return sys.stdin.read().strip() if words == ["-"] else " ".join(words)


def _run_task(args: argparse.Namespace, config, task: str, out) -> int:
    from claw_nb.sandbox import launch_early

    # the session sandbox starts while the rest loads; its start says whether bubblewrap works
    launch_early(config.settings, config.workspace)
    from claw_nb.api import build_agent
    from claw_nb.cli.error_text import error_line, fix_hint
    from claw_nb.errors import (
        HookSettingsError,
        ModelError,
        SessionNotFound,
        SubagentSettingsError,
    )
    from claw_nb.log.event_log import EventLog
    from claw_nb.permissions import PermissionSettingsError
    from claw_nb.sandbox import SandboxSettingsError

    headless = args.output_format != "text"
    # nobody to ask: servers and hooks not approved yet stay off (one line says so)
    approve_mcp = approve_hooks = None
    if args.yes:
        approver, approve_mcp = approve_all_printed, mcp.approve_servers_once
        approve_hooks = hooks.approve_hooks_once
    elif sys.stdin.isatty() and not headless:  # json modes never prompt: stdout is for JSON
        approver, approve_mcp = TerminalApprover(), mcp.terminal_server_approver
        approve_hooks = hooks.terminal_hook_approver
    else:
        approver = deny_noninteractive
    history, resumed_from = None, None
    try:
        if args.resume:
            from claw_nb.api import find_session

            resumed_from, history = find_session(config.resolved_db_path, args.resume)
        agent, _log = build_agent(
            config,
            mode=args.mode,
            approver=approver,
            history=history,
            resumed_from=resumed_from,
            approve_mcp=approve_mcp,
            # The journal is the record; the next reader (`sessions`, `show`, `connect()`)
            # moves it into DuckDB, so the process leaves right after the last answer.
            log=EventLog(config.resolved_db_path, ingest_at_end=False),
            approve_hooks=approve_hooks,
            prestart=True,  # the sandbox starts while the model is first asked
        )
    except (
        PermissionSettingsError,
        SandboxSettingsError,
        SubagentSettingsError,
        HookSettingsError,
        SessionNotFound,
    ) as exc:
        print(f"claw-nb: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as exc:  # no model to run (the embedded one missing, a local/NAME unknown)
        print(error_line(exc), file=sys.stderr)
        return EXIT_STOPPED
    if isinstance(approver, TerminalApprover):
        approver.policy = agent.authorize  # `r` at a prompt lists the rules "always" added
    agent.subscribe(_listener(args, agent, out))
    runner = agent.context.runner
    if runner.fallback_reason and not runner.fallback_announced and not args.quiet:
        print(f"claw-nb: {agent.context.runner.fallback_reason}", file=sys.stderr)
    from claw_nb.stop import sigint_stops

    try:
        with sigint_stops(agent.stop):  # Ctrl-C: the run stops at a safe point, logged
            result = agent.run(task)
    finally:
        agent.close()  # SessionEnd hooks, the log, and the MCP servers this run started
    if result.ok:
        return EXIT_OK  # the printer showed the answer (streamed, or whole when --quiet)
    print(
        f"claw-nb: {result.stop_reason}: {result.error or 'the agent did not finish'}"
        + fix_hint(result.fixes),
        file=sys.stderr,
    )
    return EXIT_STOPPED


def _listener(args: argparse.Namespace, agent, out):
    """The run's view: the text printer, or the JSON writer of `--output-format`."""
    if args.output_format == "text":
        from claw_nb.cli.printer import TextPrinter

        # show_errors=False: the reason goes to stderr once, at the end
        return TextPrinter(out=out, quiet=args.quiet, show_errors=False)
    from claw_nb.cli.headless import JsonEventWriter

    return JsonEventWriter(
        out,
        stream=args.output_format == "stream-json",
        permission_mode=getattr(agent.authorize, "mode", None),
        sandboxed=bool(getattr(agent.context.runner, "sandboxed", False)),
    )


def _cmd_sessions(args: argparse.Namespace, config) -> int:
    from claw_nb.log.store import list_sessions

    frame = list_sessions(config.resolved_db_path)
    if frame.empty:
        print("no sessions logged in", config.resolved_db_path)
        return EXIT_OK
    columns = [
        c
        for c in ("session_id", "started_at", "model", "stop_reason", "steps", "task")
        if c in frame.columns
    ]
    frame = frame[columns].head(args.limit).copy()
    if "task" in frame.columns:
        frame["task"] = frame["task"].astype(str).str.slice(0, 50)
    print(frame.to_string(index=False))
    return EXIT_OK


def _cmd_stats(args: argparse.Namespace, config) -> int:
    import pandas as pd

    from claw_nb.log import analysis
    from claw_nb.log.store import StoreBusy

    db, only = config.resolved_db_path, args.session
    if only is not None:
        from claw_nb.api import find_session_id
        from claw_nb.errors import SessionNotFound

        try:
            only = find_session_id(db, only)  # a unique prefix, as `show` and `--resume` take
        except (SessionNotFound, FileNotFoundError) as exc:
            print(f"claw-nb: {exc}", file=sys.stderr)
            return EXIT_STOPPED
    frames = {
        "session": lambda: analysis.sessions(db, only)[analysis.SESSION_COLUMNS_SHORT],
        "model": lambda: analysis.compare(db, "model", only),
        "prompt": lambda: analysis.compare(db, "prompt", only),
        "tool": lambda: analysis.tool_errors(db, only, by="tool"),
        "step": lambda: analysis.tokens_per_step(db, only),
        "split": lambda: analysis.token_split(db, only),
    }
    try:
        frame = frames[args.by]()
        written = analysis.export_parquet(db, args.export) if args.export else []
    except (FileNotFoundError, StoreBusy) as exc:
        print(f"claw-nb: {exc}", file=sys.stderr)
        return EXIT_STOPPED
    if "task" in frame.columns:
        frame["task"] = frame["task"].astype(str).str.slice(0, 40)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(frame.to_string(index=False) if not frame.empty else "(no rows)")
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _cmd_show(args: argparse.Namespace, config) -> int:
    from claw_nb.api import find_session_id
    from claw_nb.cli.show import print_session
    from claw_nb.errors import SessionNotFound

    try:
        session_id = find_session_id(config.resolved_db_path, args.session_id)
    except SessionNotFound as exc:
        print(f"claw-nb: {exc}", file=sys.stderr)
        return EXIT_STOPPED
    print_session(config.resolved_db_path, session_id, sys.stdout)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
