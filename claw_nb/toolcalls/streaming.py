"""Streamed tool-call deltas merged into whole OpenAI-format calls."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from claw_nb.toolcalls.arguments import get_field, new_call_id


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


class StreamingToolCallAccumulator:
    """Merges streamed tool-call deltas (dicts or LiteLLM objects) into OpenAI-format tool_calls,
    coping with servers that omit indices, repeat names or reuse index 0 for every call."""

    def __init__(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._by_index: dict[int, int] = {}
        self._by_id: dict[str, int] = {}
        self._last: int | None = None

    def _slot(self, index: int | None, call_id: str | None) -> int:
        if call_id in self._by_id:
            slot = self._by_id[call_id]
            # The same id at another index is another call (some servers reuse ids).
            if index is None or self._calls[slot]["index"] == index:
                return slot
        if index is not None and index in self._by_index:
            slot = self._by_index[index]
            call = self._calls[slot]
            # a new id on an index whose call looks complete: a server reusing index 0
            if not (call_id and call["id"] and _is_object(call["arguments"])):
                return slot
        elif index is None and not call_id and self._last is not None:
            return self._last
        index = max(self._by_index, default=-1) + 1 if index is None else index
        self._calls.append(
            {"index": index, "id": "", "type": "function", "name": "", "arguments": ""}
        )
        self._by_index[index] = len(self._calls) - 1
        return len(self._calls) - 1

    def add(self, deltas: Any) -> None:
        """Feed one chunk's `delta.tool_calls` (a list, a single delta, or None)."""
        if isinstance(deltas, Mapping) or not isinstance(deltas, (list, tuple, type(None))):
            deltas = [deltas]
        for delta in deltas or []:
            call_id = get_field(delta, "id") or None
            self._last = slot = self._slot(get_field(delta, "index"), call_id)
            call = self._calls[slot]
            if call_id and not call["id"]:
                call["id"] = call_id
                self._by_id.setdefault(call_id, slot)
            call["type"] = get_field(delta, "type") or call["type"]
            fn = get_field(delta, "function")
            name, args = get_field(fn, "name"), get_field(fn, "arguments")
            if name and name != call["name"]:  # a repeated or growing name replaces, else append
                call["name"] = name if name.startswith(call["name"]) else call["name"] + name
            if isinstance(args, Mapping):
                call["arguments"] = json.dumps(args, ensure_ascii=False)
            elif args and not (args == call["arguments"] and _is_object(args)):
                call["arguments"] += args

    def latest(self) -> tuple[int, str, int] | None:
        """The call the last delta went to: (its position, its name so far, its argument
        characters so far), for progress reports while a long call streams in."""
        if self._last is None:
            return None
        call = self._calls[self._last]
        return self._last, call["name"], len(call["arguments"])

    def finish(self) -> list[dict]:
        """OpenAI-format tool_calls in index order; ids generated where the server sent none."""
        out, used = [], set()
        for slot in sorted(range(len(self._calls)), key=lambda s: (self._calls[s]["index"], s)):
            call = self._calls[slot]
            if call["name"] or call["arguments"]:
                if not call["id"] or call["id"] in used:  # results must pair with one call each
                    call["id"] = new_call_id()
                used.add(call["id"])
                out.append(
                    {
                        "id": call["id"],
                        "type": call["type"],
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                )
        return out
