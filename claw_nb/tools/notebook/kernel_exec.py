"""kernel_exec: run Python in the user's kernel namespace and see what it printed and returned.

Why not `shell.run_cell(code, silent=True, store_history=False)` under `capture_output`?
`silent=True` drops the value of the last expression (the thing the agent usually wants: a
dataframe's head, a variable), and `run_cell` without it bumps the execution count, fires the
pre/post_run_cell hooks and publishes `Out[...]` to the frontend. `capture_output` swaps
`sys.stdout` for the whole process, so output of other threads would land in the capture too.

So the code is run like a cell, but by hand: IPython syntax is translated with
`shell.transform_cell` (magics and `!commands` work), the code is executed in `shell.user_ns`,
and the last expression is evaluated and formatted with the shell's own display formatter. Output
is captured per thread: `sys.stdout`, `sys.stderr` and the shell's display publisher route what
the executing thread writes into buffers, and pass every other thread's output through. Nothing
else changes: no history, no execution count, no hooks, no `_`/`Out`, no `sys.last_traceback`.

Threads: this works on the kernel's main thread (while a %%claw cell runs) and from a worker
thread while the kernel is idle (the widget's agent thread). From a worker thread the code runs
concurrently with whatever the main thread does; with the kernel idle that is only comm traffic
(widget events). Objects that insist on the main thread (some GUI toolkits, signal handlers) will
complain there. Output of threads that the code itself starts is not captured. Top-level `await`
runs in a fresh event loop on a helper thread, since the kernel's loop cannot be re-entered. There
is no timeout: code that hangs holds the agent until the user interrupts the kernel (main thread
only).
"""

from __future__ import annotations

import ast
import contextlib
import io
import itertools
import linecache
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Any

from claw_nb.textclip import clip_middle
from claw_nb.tools.base import Tool, ToolContext, ToolError, derive_tool

MAX_OUTPUT_CHARS = 12_000
MAX_SECTION_CHARS = 8_000
MAX_RESULT_CHARS = 6_000
MAX_TRACEBACK_FRAMES = 8
KIND = "kernel"

_counter = itertools.count(1)
_route_lock = threading.Lock()


# ---------------------------------------------------------------------------------------------
# Per-thread capture


class _ThreadRoutedStream(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: threads with a buffer write to it, others pass on."""

    def __init__(self, original: Any):
        self._original = original
        self._buffers: dict[int, io.StringIO] = {}

    def _target(self) -> Any:
        return self._buffers.get(threading.get_ident(), self._original)

    def write(self, s: str) -> int:  # type: ignore[override]
        return self._target().write(s)

    def writelines(self, lines: Any) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        target = self._target()
        if target is not None:
            target.flush()

    def isatty(self) -> bool:
        return False if threading.get_ident() in self._buffers else self._original.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self._original.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _Capture:
    def __init__(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.displays: list[dict] = []


_display_captures: dict[int, _Capture] = {}


def _routed_publish(display_pub: Any) -> Any:
    original = type(display_pub).publish

    def publish(data: Any = None, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
        cap = _display_captures.get(threading.get_ident())
        if cap is not None:
            cap.displays.append(dict(data or {}))
            return None
        return original(display_pub, data, metadata, *args, **kwargs)

    publish._claw_routed = True  # type: ignore[attr-defined]
    return publish


def _routed_clear_output(display_pub: Any) -> Any:
    original = type(display_pub).clear_output

    def clear_output(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() in _display_captures:
            return None
        return original(display_pub, *args, **kwargs)

    return clear_output


@contextlib.contextmanager
def _capture_thread(shell: Any) -> Iterator[_Capture]:
    """Capture this thread's stdout, stderr and display() calls; other threads are unaffected."""
    ident = threading.get_ident()
    cap = _Capture()
    display_pub = getattr(shell, "display_pub", None)
    with _route_lock:
        for name, buf in (("stdout", cap.stdout), ("stderr", cap.stderr)):
            stream = getattr(sys, name)
            if not isinstance(stream, _ThreadRoutedStream):
                stream = _ThreadRoutedStream(stream)
                setattr(sys, name, stream)
            stream._buffers[ident] = buf
        if display_pub is not None and not _display_captures:
            with contextlib.suppress(Exception):
                display_pub.publish = _routed_publish(display_pub)
                display_pub.clear_output = _routed_clear_output(display_pub)
        _display_captures[ident] = cap
    try:
        yield cap
    finally:
        with _route_lock:
            _display_captures.pop(ident, None)
            for name in ("stdout", "stderr"):
                stream = getattr(sys, name)
                if isinstance(stream, _ThreadRoutedStream):
                    stream._buffers.pop(ident, None)
                    if not stream._buffers:
                        setattr(sys, name, stream._original)
            if display_pub is not None and not _display_captures:
                for attr in ("publish", "clear_output"):
                    with contextlib.suppress(Exception):
                        if attr in vars(display_pub):
                            delattr(display_pub, attr)


# ---------------------------------------------------------------------------------------------
# Running code


def _run_awaitable(value: Any) -> Any:
    """Run a coroutine from top-level-await code in a fresh loop on a helper thread."""
    import asyncio
    import concurrent.futures

    async def runner() -> Any:
        return await value

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="claw-await") as pool:
        return pool.submit(asyncio.run, runner()).result()


def _compile(source: str, filename: str) -> tuple[Any, Any]:
    """(code for all statements but a final expression, code for that expression or None)."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = ast.parse(source, filename=filename, mode="exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
    expr = compile(last, filename, "eval", flags=flags, dont_inherit=True) if last else None
    return body, expr


def _is_coroutine_code(code: Any) -> bool:
    import inspect

    return bool(code.co_flags & inspect.CO_COROUTINE)


def _run(code: Any, glb: dict, loc: dict) -> Any:
    # eval() runs "exec" code objects too, and returns the coroutine of top-level-await code
    value = eval(code, glb, loc)
    if _is_coroutine_code(code):
        value = _run_awaitable(value)
    return value


def _format_exception(exc: BaseException, filename_prefix: str) -> str:
    """A short traceback starting at the agent's code (frames of claw_nb are dropped)."""
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(filename_prefix):
        tb = tb.tb_next
    frames = traceback.extract_tb(tb) if tb is not None else []
    lines: list[str] = []
    if frames:
        shown = frames
        if len(frames) > MAX_TRACEBACK_FRAMES:
            head = frames[:2]
            tail = frames[-(MAX_TRACEBACK_FRAMES - 2) :]
            lines = ["Traceback (most recent call last):"]
            lines += traceback.format_list(head)
            lines.append(f"  ... [{len(frames) - len(head) - len(tail)} frames omitted]\n")
            lines += traceback.format_list(tail)
        else:
            lines = ["Traceback (most recent call last):\n", *traceback.format_list(shown)]
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).rstrip("\n")


def _format_value(shell: Any, value: Any) -> tuple[str, list[str]]:
    """(text/plain of value as the notebook would show it, other mime types with sizes)."""
    from claw_nb.tools.notebook import data_size, human_size

    data: dict = {}
    formatter = getattr(shell, "display_formatter", None)
    if formatter is not None:
        try:
            data, _ = formatter.format(value)
        except Exception:  # noqa: BLE001
            data = {}
    text = data.get("text/plain")
    if not isinstance(text, str):
        try:
            text = repr(value)
        except Exception as e:  # noqa: BLE001
            text = f"<repr failed: {type(e).__name__}: {e}>"
    others = [f"{m} ({human_size(data_size(v, m))})" for m, v in data.items() if m != "text/plain"]
    return text, others


def _format_display(data: dict) -> str:
    from claw_nb.tools.notebook import data_size, human_size

    text = data.get("text/plain")
    others = [f"{m} ({human_size(data_size(v, m))})" for m, v in data.items() if m != "text/plain"]
    out = text if isinstance(text, str) else ""
    if others:
        out = (out + "\n" if out else "") + "[" + ", ".join(others) + "]"
    return out or "(empty display)"


def execute(shell: Any, code: str) -> str:
    """Run ``code`` in ``shell``'s namespace and describe what happened (see module docs)."""
    from claw_nb.tools.notebook import strip_ansi

    try:
        source = shell.transform_cell(code)
    except Exception as e:  # noqa: BLE001
        return f"[error] could not translate the IPython syntax: {type(e).__name__}: {e}"
    n = next(_counter)
    filename = f"<kernel_exec-{n}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    try:
        body, expr = _compile(source, filename)
    except SyntaxError as e:
        detail = "".join(traceback.format_exception_only(type(e), e)).rstrip()
        return f"[error] {detail}"
    glb = getattr(shell, "user_global_ns", None) or shell.user_ns
    loc = shell.user_ns
    result: Any = None
    error: str | None = None
    with _capture_thread(shell) as cap:
        try:
            _run(body, glb, loc)
            if expr is not None:
                result = _run(expr, glb, loc)
        except (Exception, SystemExit) as e:  # noqa: BLE001
            error = _format_exception(e, "<kernel_exec-")
    sections: list[str] = []
    out, err = cap.stdout.getvalue(), cap.stderr.getvalue()
    if out:
        sections.append("[stdout]\n" + clip_middle(strip_ansi(out), MAX_SECTION_CHARS).rstrip("\n"))
    if err:
        sections.append("[stderr]\n" + clip_middle(strip_ansi(err), MAX_SECTION_CHARS).rstrip("\n"))
    for data in cap.displays[:20]:
        sections.append("[display]\n" + clip_middle(_format_display(data), MAX_RESULT_CHARS))
    if len(cap.displays) > 20:
        sections.append(f"[{len(cap.displays) - 20} more display outputs]")
    if error is None and result is not None:
        text, others = _format_value(shell, result)
        block = "[result]\n" + clip_middle(strip_ansi(text), MAX_RESULT_CHARS)
        if others:
            block += "\n[also: " + ", ".join(others) + "]"
        sections.append(block)
    if error is not None:
        sections.append("[error]\n" + clip_middle(strip_ansi(error), MAX_SECTION_CHARS))
    if not sections:
        return "(ran without output; the last statement was not an expression or gave None)"
    return clip_middle("\n".join(sections), MAX_OUTPUT_CHARS)


# ---------------------------------------------------------------------------------------------
# The tool


def kernel_exec_impl(ctx: ToolContext, shell: Any, code: str) -> str:
    """Run Python in the user's live Jupyter kernel (the notebook's namespace) and return its
    output, the last expression's value, or the error. Use it to inspect data (`df.head()`);
    IPython syntax works. Changes persist: do not overwrite the user's data unless asked. The
    user approves every call.

    Args:
        code: Python code; the last line's value is shown if it is an expression.
    """
    if not isinstance(code, str):
        raise ToolError(f"code must be a string, got {type(code).__name__}")
    if not code.strip():
        raise ToolError("code is empty; give the Python code to run")
    if shell is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
    if shell is None:
        raise ToolError(
            "kernel_exec needs a running IPython/Jupyter kernel, and there is none here; use "
            "run_command to run Python in a subprocess instead"
        )
    return execute(shell, code)


def bind_kernel_exec(shell: Any) -> Tool:
    """The kernel_exec tool running code in ``shell`` (None: `IPython.get_ipython()` per call)."""

    def kernel_exec(ctx: ToolContext, code: str) -> str:
        return kernel_exec_impl(ctx, shell, code)

    kernel_exec.__doc__ = kernel_exec_impl.__doc__
    # Its own kind: the permission policy asks for it unless the mode is auto.
    return derive_tool(kernel_exec, KIND, name="kernel_exec")


kernel_exec = bind_kernel_exec(None)
