"""Tools described in the prompt, for servers whose chat template has no place for them.

A GGUF's own chat template (what llama-cpp-python uses without `--chat_format`) often renders
only `role` and `content`: it ignores the request's `tools` and an assistant's `tool_calls`, and
some templates refuse a `tool` role. `PromptedTools` rewrites a request into plain messages
such a template renders faithfully: the tool schemas and the call format go into the system
message, earlier calls become Hermes `<tool_call>{json}</tool_call>` text, or Qwen XML
`<function=NAME><parameter=KEY>VALUE</parameter></function>` (`dialect`; the reply parser reads
both back, `claw_nb.toolcalls.dialects`), and tool results become a user message of
`<tool_response>` blocks, closed by one line that says what to do next (`AFTER_RESULTS`:
without it SmolLM2-135M goes on writing `<tool_response>` text itself). Rewritten messages are
cached per original message object, so a long session re-renders only what changed (and a
token counter can cache by them too).
"""

from __future__ import annotations

import json
from typing import Any

PROMPT_DIALECTS = ("hermes", "qwen_xml")  # how calls are written in the prompt and asked for
_RESULTS_AND_END = (
    "The results come back in <tool_response> blocks. When the task is done, answer in plain "
    "text without a tool call."
)
CALL_FORMAT = (
    "To use a tool, reply with one call per block, exactly in this form, and nothing after it:\n"
    "<tool_call>\n"
    '{"name": "TOOL_NAME", "arguments": {"ARGUMENT": "VALUE"}}\n'
    "</tool_call>\n" + _RESULTS_AND_END
)
XML_CALL_FORMAT = (
    "To use a tool, reply with one call per block, exactly in this form, and nothing after it:\n"
    "<tool_call>\n"
    "<function=TOOL_NAME>\n"
    "<parameter=ARGUMENT>\n"
    "VALUE\n"
    "</parameter>\n"
    "</function>\n"
    "</tool_call>\n" + _RESULTS_AND_END
)
# Wording measured on SmolLM2-135M: "Answer the task now ..." alone made it call again.
AFTER_RESULTS = (
    "Above is the tool's result. Now answer the task in plain text, or call another tool."
)
AFTER_MANY = (
    "Above are the tools' results. Now answer the task in plain text, or call another tool."
)


def tools_block(specs: list[dict[str, Any]], dialect: str = "hermes") -> str:
    """The system prompt's description of the tools: one JSON schema a line, and the format."""
    lines = [
        json.dumps(spec.get("function") or spec, ensure_ascii=False, separators=(", ", ": "))
        for spec in specs
    ]
    how = XML_CALL_FORMAT if dialect == "qwen_xml" else CALL_FORMAT
    return "# Tools\n<tools>\n" + "\n".join(lines) + "\n</tools>\n\n" + how


def call_text(call: dict[str, Any], dialect: str = "hermes") -> str:
    """One native tool call as the text a model would write for it in `dialect` (arguments as
    the model sent them: a JSON object when they parse, else the raw string)."""
    function = call.get("function") or {}
    raw = function.get("arguments")
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else (raw or {})
    except ValueError:
        arguments = raw
    name = function.get("name") or ""
    if dialect == "qwen_xml" and isinstance(arguments, dict):
        params = "".join(
            f"<parameter={key}>\n{_xml_text(value)}\n</parameter>\n"
            for key, value in arguments.items()
        )
        return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def _xml_text(value: Any) -> str:
    """A parameter's value as Qwen XML carries it: strings verbatim, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def response_text(message: dict[str, Any]) -> str:
    name = message.get("name")
    opener = f'<tool_response name="{name}">' if name else "<tool_response>"
    return f"{opener}\n{_text(message.get('content'))}\n</tool_response>"


class PromptedTools:
    """Rewrites requests for a template that knows only roles and text (see module doc)."""

    def __init__(self, dialect: str = "hermes") -> None:
        self.dialect = dialect if dialect in PROMPT_DIALECTS else "hermes"
        self._cache: dict[int, tuple[Any, Any, dict[str, Any]]] = {}
        self._tools_key: str | None = None
        self._block = ""

    def block(self, specs: list[dict[str, Any]] | None) -> str:
        key = json.dumps(specs or [], sort_keys=True)
        if key != self._tools_key:
            self._tools_key, self._block = key, (tools_block(specs, self.dialect) if specs else "")
        return self._block  # the same object while the tools stay the same (a cache key)

    def _one(self, message: dict[str, Any], block: str) -> dict[str, Any]:
        """The plain form of a system, user or assistant message (cached by identity)."""
        key = id(message)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is message and hit[1] is block:
            return hit[2]
        role = message.get("role")
        text = _text(message.get("content"))
        if role == "system" and block:
            text = f"{text.rstrip()}\n\n{block}"
        calls = message.get("tool_calls") if role == "assistant" else None
        if calls:
            text = "\n".join(
                [
                    *([text.strip()] if text.strip() else []),
                    *(call_text(c, self.dialect) for c in calls),
                ]
            )
        plain = {"role": role, "content": text}
        self._cache[key] = (message, block, plain)
        return plain

    def messages(
        self, messages: list[dict[str, Any]], specs: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]]:
        """`messages` as plain role/content messages, the tools described in the system one
        (added at the front when there is none and there are tools)."""
        block = self.block(specs)
        out: list[dict[str, Any]] = []
        if block and not any(m.get("role") == "system" for m in messages):
            out.append({"role": "system", "content": block})
        results: list[dict[str, Any]] = []
        for message in messages:
            if message.get("role") == "tool":
                results.append(message)
                continue
            if results:
                out.append(self._results(results))
                results = []
            out.append(self._one(message, block if message.get("role") == "system" else ""))
        if results:
            out.append(self._results(results))
        if len(self._cache) > 2 * len(messages) + 64:
            keep = {id(m) for m in messages}
            self._cache = {k: v for k, v in self._cache.items() if k in keep}
        return out

    def _results(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """One user message for a run of tool results (cached by its first result)."""
        key = id(results[0])
        hit = self._cache.get(key)
        if (
            hit is not None
            and len(hit[1]) == len(results)
            and all(a is b for a, b in zip(hit[1], results))
        ):
            return hit[2]
        text = "\n".join(map(response_text, results))
        after = AFTER_RESULTS if len(results) == 1 else AFTER_MANY
        plain = {"role": "user", "content": f"{text}\n\n{after}"}
        self._cache[key] = (results[0], tuple(results), plain)
        return plain
