"""Cheap shortening, no model call: stale tool results dropped, old bulky ones cut to a stub.

Runs before any summary. Only messages before `end` (the start of the recent turns, which stay
verbatim) are touched, and messages are replaced, never mutated (listeners may hold them):

- a `read_file` result whose file a later `write_file` / `edit_file` changed, or that a later
  identical read repeats, becomes a one-line stub;
- an output that a later identical call repeated, and old `read_output` pages, become stubs;
- any other result longer than `shorten_chars` keeps its head and tail, and its full text is
  saved behind a handle (`read_output` pages through it);
- big string arguments of old calls (the content of a `write_file`) are cut the same way.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import field
from typing import Any

from claw_nb.context.outputs import HANDLE_RE, OutputStore, clip_with_handle
from claw_nb.outcomes import Outcomes, succeeded
from claw_nb.records import record

# the file tools of a history with no recorded outcomes (see `outcomes.succeeded`)
_FILE_WRITERS = ("write_file", "edit_file")

STUB_PREFIXES = ("[earlier output of ", "[earlier page of ")
_MAIN_ARGS = ("path", "command", "pattern", "handle", "query")
_BIG_ARGUMENT = 400


@record
class PruneReport:
    stubbed: list[str] = field(default_factory=list)
    shortened: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.stubbed or self.shortened or self.arguments)

    def lines(self) -> list[str]:
        out = []
        for label, items in (
            ("stale results dropped", self.stubbed),
            ("old outputs shortened", self.shortened),
            ("big call arguments cut", self.arguments),
        ):
            if items:
                out.append(
                    f"{label} ({len(items)}): {', '.join(items[:12])}"
                    + (", ..." if len(items) > 12 else "")
                )
        return out


def parse_arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def describe_call(name: str, arguments: dict[str, Any] | None) -> str:
    """`read_file(src/app.py)`: the tool and its main argument, short."""
    main = ""
    for key in _MAIN_ARGS:
        if arguments and isinstance(arguments.get(key), str):
            main = arguments[key].replace("\n", " ")
            break
    if len(main) > 60:
        main = main[:57] + "..."
    return f"{name}({main})"


def call_index(messages: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """tool_call_id -> (tool name, arguments) for every call in `messages`."""
    calls: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for message in messages:
        for spec in message.get("tool_calls") or []:
            function = spec.get("function") or {}
            calls[spec.get("id")] = (
                function.get("name", ""),
                parse_arguments(function.get("arguments")),
            )
    return calls


def norm_path(path: str, workspace: str | None = None) -> str:
    path = path.strip()
    if workspace and path.startswith(workspace.rstrip("/") + "/"):
        path = path[len(workspace.rstrip("/")) + 1 :]
    return posixpath.normpath(path)


def _changes_files(message: dict[str, Any], name: str, outcomes: Outcomes) -> bool:
    outcome = outcomes.get(str(message.get("tool_call_id")))
    return outcome.kind == "edit" if outcome is not None else name in _FILE_WRITERS


def prune(
    messages: list[dict[str, Any]],
    end: int,
    store: OutputStore,
    *,
    shorten_chars: int,
    keep_chars: int,
    workspace: str | None = None,
    outcomes: Outcomes | None = None,
) -> PruneReport:
    """Shorten messages[:end] in place (by replacing them); returns what was done. `outcomes`
    say which calls worked and which changed files (tools of kind "edit")."""
    outcomes = outcomes or {}
    report = PruneReport()
    calls = call_index(messages)
    last_write: dict[str, int] = {}
    last_read: dict[tuple, int] = {}
    last_same: dict[tuple, int] = {}
    for index, message in enumerate(messages):
        if message.get("role") != "tool":
            continue
        name, args = calls.get(message.get("tool_call_id"), (message.get("name", ""), None))
        content = message.get("content")
        if not isinstance(content, str) or not succeeded(message, outcomes):
            continue
        path = args.get("path") if args else None
        if isinstance(path, str):
            key = norm_path(path, workspace)
            if _changes_files(message, name, outcomes):
                last_write[key] = index
            elif name == "read_file":
                last_read[(key, args.get("offset", 1), args.get("limit", 2000))] = index
        last_same[(name, json.dumps(args, sort_keys=True), hash(content))] = index

    for index in range(min(end, len(messages))):
        message = messages[index]
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            replaced = _cut_arguments(message, shorten_chars)
            if replaced is not None:
                messages[index], names = replaced
                report.arguments.extend(names)
            continue
        if role != "tool":
            continue
        content = message.get("content")
        if (
            not isinstance(content, str)
            or content.startswith(STUB_PREFIXES)
            or not succeeded(message, outcomes)
        ):
            continue
        name, args = calls.get(message.get("tool_call_id"), (message.get("name", ""), None))
        what = describe_call(name, args)
        stub = None
        path = args.get("path") if args else None
        if name == "read_file" and isinstance(path, str):
            key = norm_path(path, workspace)
            read_key = (key, args.get("offset", 1), args.get("limit", 2000))
            if last_write.get(key, -1) > index:
                stub = f"[earlier output of {what} dropped: the file changed since; read it again if needed]"
            elif last_read.get(read_key, -1) > index:
                stub = f"[earlier output of {what} dropped: the same file was read again later]"
        if stub is None and name == "read_output" and len(content) > 300:
            handle = args.get("handle", "?") if args else "?"
            stub = f"[earlier page of {handle} dropped; read_output can show it again]"
        if stub is None and len(content) > 200:
            same = (name, json.dumps(args, sort_keys=True), hash(content))
            if last_same.get(same, -1) > index:
                stub = f"[earlier output of {what} dropped: a later identical call gave the same output]"
        if stub is not None:
            messages[index] = {**message, "content": stub}
            report.stubbed.append(what)
            continue
        if len(content) > shorten_chars:
            match = HANDLE_RE.search(content)
            full = store.get(match.group(1)) if match else None
            if full is not None:
                handle = match.group(1)
            else:
                full, handle = content, store.put(content, origin=what)
            messages[index] = {
                **message,
                "content": clip_with_handle(full, keep_chars, handle, what),
            }
            report.shortened.append(what)
    return report


def _cut_arguments(message: dict[str, Any], limit: int):
    """(new message, call descriptions) with long string arguments cut, or None."""
    changed, names, specs = False, [], []
    for spec in message["tool_calls"]:
        function = spec.get("function") or {}
        raw = function.get("arguments")
        args = parse_arguments(raw) if isinstance(raw, str) and len(raw) > limit else None
        if args is not None:
            cut = {
                key: (value[:200] + f"... [{len(value)} characters; not kept in context]")
                if isinstance(value, str) and len(value) > _BIG_ARGUMENT
                else value
                for key, value in args.items()
            }
            if cut != args:
                spec = {**spec, "function": {**function, "arguments": json.dumps(cut)}}
                changed = True
                names.append(describe_call(function.get("name", ""), args))
        specs.append(spec)
    return ({**message, "tool_calls": specs}, names) if changed else None


def squeeze(messages: list[dict[str, Any]], fits: Callable[[], bool], outputs: OutputStore) -> int:
    """Cut the largest tool results (any age) until `fits()`; how many were cut.

    The last resort when the recent turns alone overflow: each cut keeps head and tail and puts
    the full text behind a handle, so nothing is lost to the model for good."""
    cut = 0
    for _ in range(40):
        if fits():
            break
        sizes = [
            (len(m.get("content") or ""), i)
            for i, m in enumerate(messages)
            if m.get("role") == "tool" and isinstance(m.get("content"), str)
        ]
        if not sizes:
            break
        size, index = max(sizes)
        if size < 600:
            break
        message = messages[index]
        content = message["content"]
        match = HANDLE_RE.search(content)
        full = outputs.get(match.group(1)) if match else None
        calls = call_index(messages)
        name, args = calls.get(message.get("tool_call_id"), (message.get("name", ""), None))
        what = describe_call(name, args)
        handle = match.group(1) if full is not None else outputs.put(content, what)
        messages[index] = {
            **message,
            "content": clip_with_handle(full or content, size // 2, handle, what),
        }
        cut += 1
    return cut
