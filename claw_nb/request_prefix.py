"""Whether a model request extends the previous request of its session, message by message.

A server's prompt cache (llama.cpp's slot, vLLM's prefix cache, Ollama's) spares the prefill
only while each request begins exactly as the previous one did: change one early message (a
tool added mid-session, a pruned output, an edited system prompt) and everything after it is
read again. `PrefixTracker` hashes each request as sent, the tool schemas first and then every
message, and compares it with the previous one; this works for every server, whether or not
it reports its cache. A request that does not begin with the previous one is a *cache break*:
`PrefixBreak` names the first message that differs (its position in the request; 0 is the
system message, where templates also put the tools) and, when known, why.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from claw_nb.records import record

TOOLS_ROLE = "tools"  # the role a break at the tool schemas is reported under


@record(frozen=True)
class PrefixBreak:
    """Where a request first differs from the previous one, and why when claw_nb knows."""

    index: int  # position of the first changed message in the new request
    role: str  # that message's role, or "tools" when the tool schemas changed
    reason: str  # "tools changed", "system prompt changed", "compacted: prune (threshold)", ...


def message_hash(message: dict[str, Any]) -> str:
    """A message's identity as sent: its canonical JSON (any key order), hashed."""
    text = json.dumps(message, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).hexdigest()


def _tools_hash(tools: list[dict[str, Any]]) -> str:
    """`message_hash({"tools": tools})`, from the schemas' JSON made once per tool set."""
    from claw_nb.tools.base import specs_json

    text = specs_json(tools, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(
        ('{"tools": ' + text + "}").encode("utf-8", "replace"), digest_size=16
    ).hexdigest()


class PrefixTracker:
    """The previous request of one session, to tell whether the next one extends it."""

    def __init__(self) -> None:
        self._tools: str | None = None
        self._hashes: list[str] = []
        self._roles: list[str] = []
        # message object -> its hash, for the messages of the previous request: a message is
        # not changed in place once in the history (a compaction puts a new dict in its
        # place), so only the new ones are hashed (every one of them was, ~1 ms a step late
        # in a session); a content replaced in place is noticed, as the token counter does.
        # The message is kept with its hash: its id cannot be reused meanwhile.
        self._known: dict[int, tuple[dict[str, Any], Any, str]] = {}

    def check(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        compacted: str | None = None,
    ) -> PrefixBreak | None:
        """The break between the previous request and this one (now the previous), or None.

        `compacted` names a compaction that ran since the previous request (it is the reason
        when the prefix broke). A request that is a prefix of the previous one (messages removed
        from the end only) breaks nothing: the server holds all of it."""
        tools_hash = _tools_hash(tools or [])
        known, seen = self._known, {}
        hashes = []
        for m in messages:
            entry = known.get(id(m))
            if entry is None or entry[0] is not m or entry[1] is not m.get("content"):
                entry = (m, m.get("content"), message_hash(m))
            seen[id(m)] = entry
            hashes.append(entry[2])
        self._known = seen
        roles = [str(m.get("role") or "") for m in messages]
        before_tools, before = self._tools, self._hashes
        before_count = len(before)
        self._tools, self._hashes, self._roles = tools_hash, hashes, roles
        if before_tools is None:
            return None  # the session's first request: nothing to extend
        if tools_hash != before_tools:
            return PrefixBreak(0, TOOLS_ROLE, compacted or "tools changed")
        index = next((i for i, (a, b) in enumerate(zip(before, hashes)) if a != b), None)
        if index is None:
            return None
        role = roles[index]
        if compacted:
            reason = compacted
        elif role == "system":
            reason = "system prompt changed"
        elif len(hashes) <= before_count:
            reason = "messages removed"  # e.g. a rewind, then a new request
        elif before[index] in hashes[index + 1 :]:
            reason = "message inserted"
        else:
            reason = "message changed"
        return PrefixBreak(index, role, reason)
