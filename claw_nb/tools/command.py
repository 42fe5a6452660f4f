"""The run_command tool."""

from __future__ import annotations

import signal
from pathlib import Path

from claw_nb.sandbox import CommandResult
from claw_nb.sandbox.process import STOPPED
from claw_nb.textsafe import strip_ansi
from claw_nb.tools.base import ToolContext, ToolError, ToolTimeout, tool

DEFAULT_TIMEOUT_S = 120
MAX_TIMEOUT_S = 600
MAX_OUTPUT_CHARS = 30_000
HEAD_SHARE = 0.4  # of a stream's budget kept from the start; the rest from the end


def cap_text(text: str, budget: int, total_bytes: int | None = None) -> str:
    """Keep the head and tail of ``text`` within ``budget`` chars, marking what was dropped.

    ``total_bytes`` (the stream's real size) makes the omitted count exact even if the runner
    already dropped a middle part.
    """
    if len(text) <= budget:
        return text  # if the runner dropped a middle part, its own marker says so
    head_n = max(0, int(budget * HEAD_SHARE))
    tail_n = max(0, budget - head_n)
    head = text[:head_n]
    tail = text[len(text) - tail_n :] if tail_n else ""
    kept = len(head.encode("utf-8", errors="replace")) + len(tail.encode("utf-8", errors="replace"))
    full = total_bytes if total_bytes is not None else len(text.encode("utf-8", errors="replace"))
    omitted = max(0, full - kept)
    return f"{head}\n... [{omitted} bytes omitted] ...\n{tail}"


def _budgets(out_len: int, err_len: int, total: int) -> tuple[int, int]:
    if out_len + err_len <= total:
        return out_len, err_len
    half = total // 2
    if out_len <= half:
        return out_len, total - out_len
    if err_len <= half:
        return total - err_len, err_len
    return half, total - half


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _status_line(result: CommandResult, timeout: float) -> str:
    code = result.exit_code
    shown = code if code is not None else "none"
    if result.timed_out:
        return (
            f"exit code: {shown} (timed out after {timeout:g} s: the command and its child "
            "processes were killed. Use a larger timeout (max 600) or make the command finish "
            "sooner; processes left in the background are stopped when the command ends.)"
        )
    notes = []
    if code is not None and code < 0:
        notes.append(f"killed by {_signal_name(-code)}")
    reason = result.killed_reason
    if reason == STOPPED:
        notes.append("stopped by the user: the command and its processes were killed")
    elif reason and reason.startswith("process limit"):
        notes.append(
            f"stopped: it started more processes than allowed, {reason}; "
            "all its processes were killed"
        )
    elif reason:
        notes.append(f"{reason} reached")
    return f"exit code: {shown}" + (f" ({'; '.join(notes)})" if notes else "")


def _display_path(path: str, workspace: Path | None) -> str:
    if workspace is not None:
        try:
            return str(Path(path).relative_to(workspace))
        except ValueError:
            pass
    return path


def format_result(
    result: CommandResult,
    timeout: float,
    limit: int = MAX_OUTPUT_CHARS,
    workspace: Path | None = None,
) -> str:
    """Render a CommandResult as the text the model sees."""
    out_budget, err_budget = _budgets(len(result.stdout), len(result.stderr), limit)
    parts = [_status_line(result, timeout)]
    truncated = False
    for label, text, budget, total in (
        ("stdout", result.stdout, out_budget, result.stdout_bytes),
        ("stderr", result.stderr, err_budget, result.stderr_bytes),
    ):
        text = strip_ansi(text)  # colour codes only cost the model tokens
        if not text:
            continue
        shown = cap_text(text, budget, total)
        truncated = truncated or shown is not text or "bytes omitted] ..." in text
        parts.append(f"{label}:\n{shown}")
    if not result.stdout and not result.stderr:
        parts.append("(no output)")
    if truncated and result.output_file:
        total = result.stdout_bytes + result.stderr_bytes
        parts.append(
            f"(output truncated; the full output ({total} bytes) is saved in "
            f"{_display_path(result.output_file, workspace)})"
        )
    return "\n".join(parts)


@tool("command")
def run_command(ctx: ToolContext, command: str, timeout: int | None = None) -> str:
    """Run a bash command in the workspace; returns its exit code, stdout and stderr (long
    output keeps its start and end). stdin is closed; background processes are stopped when it
    ends; a command out of time is killed.

    Args:
        command: The bash command line, e.g. 'python -m pytest -q'.
        timeout: Seconds before it is killed (default: the session's command_timeout; at most
            600).
    """
    if not isinstance(command, str) or not command.strip():
        raise ToolError("command is empty; give a bash command line to run")
    if timeout is None:
        timeout = ctx.command_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ToolError(f"timeout must be a positive number of seconds, got {timeout!r}")
    note = ""
    ceiling = max(MAX_TIMEOUT_S, ctx.command_timeout)
    if timeout > ceiling:
        note = f"\n(note: timeout reduced from {timeout:g} to the maximum, {ceiling:g} s)"
        timeout = ceiling
    try:
        stop = {"stop": ctx.stop} if ctx.stop is not None else {}  # a runner may predate it
        result = ctx.runner.run(command, ctx.workspace, float(timeout), **stop)
    except OSError as e:
        raise ToolError(f"could not start the command: {e.strerror or e}") from e
    text = format_result(result, timeout, workspace=ctx.workspace) + note
    if result.timed_out:
        raise ToolTimeout(text)
    return text
