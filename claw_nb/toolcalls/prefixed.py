"""`functions.NAME:` then the JSON arguments: llama-cpp-python's chatml-function-calling
format, which comes back as plain text when the server did not turn it into a call."""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from claw_nb.toolcalls.arguments import ToolCall, json_error, loads_lenient, make_call, new_call_id
from claw_nb.toolcalls.text_scan import CALL_SHAPE, Found, json_span, labelled, skip_ws

_FUNCTIONS_OPEN = re.compile(r"(?m)^[ \t]*functions\.([A-Za-z_][\w.-]*):[ \t]*")


def functions_calls(text: str, start: int, end: int, known_tools: Collection[str] | None) -> Found:
    """`functions.NAME:` then the JSON arguments: the call format llama-cpp-python's
    chatml-function-calling template teaches, which comes back as plain text when the server
    did not turn it into a call (a reply cut by max_tokens, a server without that handler).
    A name the agent lacks is still an attempted call (answered with the real tools); a call
    cut off before its arguments end comes back as an error, never repaired and run."""
    found, pos = [], start
    while (head := _FUNCTIONS_OPEN.search(text, pos, end)) is not None:
        name, stop = head.group(1), head.end()
        json_at = skip_ws(text, head.end(), end)
        body, cut = "", json_at >= end
        if not cut and text[json_at] == "{":
            stop, closed = json_span(text, json_at, end)
            body, cut = text[json_at:stop], not closed
        elif not cut:  # prose after the name: a mention, or a call without its JSON
            if name not in (known_tools or ()):
                pos = head.end()
                continue
            line_end = text.find("\n", head.end(), end)
            stop = end if line_end == -1 else line_end
            error = (
                f"functions.{name}: must be followed by its arguments as one JSON object; "
                f"nothing was run. Write calls as {CALL_SHAPE}."
            )
            call = ToolCall(new_call_id(), name, text[json_at:stop], None, error)
            found.append((head.start(), stop, labelled([call], "functions_prefix")))
            pos = stop
            continue
        call = _prefixed_call(name, body, cut)
        found.append((head.start(), stop, labelled([call], "functions_prefix")))
        pos = stop
    return found


def _prefixed_call(name: str, body: str, cut: bool) -> ToolCall:
    """The call for `functions.NAME:` + `body`; `cut`: the reply ended before the JSON did."""
    if not body and cut:
        error = f"The call to {name} was cut off before its arguments; send it again, whole."
        return ToolCall(new_call_id(), name, "", None, f"{error} Write calls as {CALL_SHAPE}.")
    try:
        json.loads(body or "{}")
    except ValueError as exc:
        if cut:  # the reply ended inside the arguments: repairing would run a truncated call
            error = (
                f"The call to {name} was cut off inside its arguments (the reply ended); send "
                f"it again, whole, or in smaller steps. Write calls as {CALL_SHAPE}."
            )
            return ToolCall(new_call_id(), name, body, None, error)
        try:
            value, repaired = loads_lenient(body)
        except ValueError:
            error = json_error(body, exc) + f" Write calls as {CALL_SHAPE}."
            return ToolCall(new_call_id(), name, body, None, error)
        return make_call(name, value, repaired)
    return make_call(name, body or "{}")
