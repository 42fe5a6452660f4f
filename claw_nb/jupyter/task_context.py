"""Context from the notebook for a task: kernel variables, dataframes, the last error.

`expand_task(task, shell)` fills `{name}` and `{name.attr}` placeholders from the kernel's user
namespace. Short values go inline; long ones (and every pandas DataFrame or Series, summarised as
shape, dtypes and head) are referred to inline and appended below the task. `{_error}` (or
`include_error=True`) brings in the traceback of the last error the user saw. Braces that do
not name an existing variable, `{{doubled}}` braces and format specs are left exactly as they
are, so code in a task survives.

`notebook_tools(shell)` gives the agent's notebook tools bound to that shell.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from claw_nb.textclip import clip_middle

INLINE_MAX_CHARS = 200
VALUE_MAX_CHARS = 2_000
TABLE_MAX_CHARS = 4_000
ERROR_MAX_CHARS = 6_000
ERROR_NAME = "_error"

_PLACEHOLDER_RE = re.compile(r"(?<!\{)\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}(?!\})")


def _strip_ansi(text: str) -> str:
    from claw_nb.tools.notebook import strip_ansi

    return strip_ansi(text)


def _is_pandas(value: Any, cls_name: str) -> bool:
    pd = sys.modules.get("pandas")
    if pd is None:
        return False
    cls = getattr(pd, cls_name, None)
    return cls is not None and isinstance(value, cls)


def summarize_dataframe(df: Any, name: str = "df") -> str:
    """Shape, dtypes and head(5) of a pandas DataFrame, as text."""
    rows, cols = df.shape
    lines = [f"{name}: pandas DataFrame, {rows} rows x {cols} columns"]
    dtypes = df.dtypes
    lines.append("dtypes:")
    shown = list(dtypes.items())[:60]
    lines += [f"  {col}: {dtype}" for col, dtype in shown]
    if len(dtypes) > len(shown):
        lines.append(f"  ... {len(dtypes) - len(shown)} more columns")
    head = df.head(5).to_string(max_cols=30, max_colwidth=60)
    lines.append("head(5):")
    lines.append(clip_middle(head, TABLE_MAX_CHARS))
    return "\n".join(lines)


def summarize_series(s: Any, name: str = "s") -> str:
    lines = [f"{name}: pandas Series {s.name!r}, {len(s)} values, dtype {s.dtype}"]
    lines.append("head(5):")
    lines.append(clip_middle(s.head(5).to_string(), TABLE_MAX_CHARS))
    return "\n".join(lines)


def describe_value(value: Any, name: str) -> str:
    """Text for a value: dataframes summarised, strings as they are, others by repr; clipped."""
    if _is_pandas(value, "DataFrame"):
        return summarize_dataframe(value, name)
    if _is_pandas(value, "Series"):
        return summarize_series(value, name)
    if isinstance(value, str):
        return clip_middle(value, VALUE_MAX_CHARS)
    try:
        text = repr(value)
    except Exception as e:  # noqa: BLE001
        text = f"<{type(value).__name__} object; repr failed: {e}>"
    return clip_middle(text, VALUE_MAX_CHARS)


def _lookup(ns: dict, dotted: str) -> tuple[bool, Any]:
    head, *attrs = dotted.split(".")
    if head not in ns:
        return False, None
    value = ns[head]
    for attr in attrs:
        try:
            value = getattr(value, attr)
        except Exception:  # noqa: BLE001
            return False, None
    return True, value


def last_error(shell: Any = None) -> str | None:
    """The traceback of the last error shown in the kernel, without colour codes, or None."""
    stb = getattr(shell, "_last_traceback", None) if shell is not None else None
    if isinstance(stb, (list, tuple)) and stb:
        return clip_middle(_strip_ansi("\n".join(str(x) for x in stb)), ERROR_MAX_CHARS).strip()
    tb = getattr(sys, "last_traceback", None)
    etype = getattr(sys, "last_type", None)
    value = getattr(sys, "last_value", None)
    if etype is None or value is None:
        return None
    text = None
    itb = getattr(shell, "InteractiveTB", None)
    if itb is not None:  # the traceback as IPython showed it
        try:
            text = "\n".join(itb.structured_traceback(etype, value, tb))
        except Exception:  # noqa: BLE001
            text = None
    if text is None:
        import traceback

        text = "".join(traceback.format_exception(etype, value, tb))
    return clip_middle(_strip_ansi(text), ERROR_MAX_CHARS).strip()


def expand_task(task: str, shell: Any, include_error: bool = False) -> str:
    """``task`` with `{name}` / `{name.attr}` filled from ``shell.user_ns`` (see module docs).

    Only names that exist in the user namespace (and attributes that resolve) are replaced;
    `{_error}` is the last error's traceback. Short single-line values go inline; long values,
    dataframes and the error are referenced inline and appended after the task under
    "Context from the kernel".
    """
    ns = getattr(shell, "user_ns", None) or {}
    appendix: list[str] = []
    seen: dict[str, str] = {}
    wants_error = include_error

    def replace(m: re.Match) -> str:
        nonlocal wants_error
        dotted = m.group(1)
        if dotted in seen:
            return seen[dotted]
        if dotted == ERROR_NAME and ERROR_NAME not in ns:
            wants_error = True
            seen[dotted] = "the last error (traceback below)"
            return seen[dotted]
        found, value = _lookup(ns, dotted)
        if not found:
            return m.group(0)
        text = describe_value(value, dotted)
        tabular = _is_pandas(value, "DataFrame") or _is_pandas(value, "Series")
        if not tabular and "\n" not in text and len(text) <= INLINE_MAX_CHARS:
            seen[dotted] = text
        else:
            seen[dotted] = f"`{dotted}` (shown below)"
            appendix.append(f"--- {dotted} ---\n{text}")
        return seen[dotted]

    out = _PLACEHOLDER_RE.sub(replace, task)
    if wants_error:
        tb = last_error(shell)
        appendix.append(
            "--- last error ---\n" + (tb if tb else "(no error has been raised in this kernel)")
        )
    if appendix:
        out = out.rstrip("\n") + "\n\nContext from the kernel:\n" + "\n\n".join(appendix)
    return out


def notebook_tools(shell: Any, prefer: str = "auto", propose: Any = None) -> list:
    """[notebook_read, notebook_edit, kernel_exec] bound to ``shell`` by closure.

    The notebook tools know which notebook the shell runs in (and protect it); kernel_exec runs
    code in the shell's namespace. ``prefer`` is the notebook mode from the settings ("auto",
    "disk" or "live"); `notebook_mode(shell)` reports what auto finds. ``propose(source,
    cell_type)`` shows a cell proposed from a background run (the widget inserts it).
    """
    from claw_nb.tools.notebook import bind_notebook_tools
    from claw_nb.tools.notebook.kernel_exec import bind_kernel_exec

    if propose is None:
        return [*bind_notebook_tools(shell, prefer), bind_kernel_exec(shell)]
    return [*bind_notebook_tools(shell, prefer, propose), bind_kernel_exec(shell)]


def notebook_mode(shell: Any, prefer: str = "auto"):
    """How notebook edits would go in this kernel: a NotebookMode; `str()` reads e.g.
    "disk (the Jupyter server ... has no jupyter-collaboration ...)"."""
    from claw_nb.tools.notebook.live import detect_notebook_mode

    return detect_notebook_mode(shell, prefer)
