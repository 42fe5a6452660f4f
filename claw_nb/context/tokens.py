"""Token counts for requests, and the model's window, without importing LiteLLM.

Texts are counted with tiktoken's `cl100k_base` (offline, from the copy LiteLLM ships), or with
the model's own tokenizer when the `tokenizer` setting names one (a local `tokenizer.json`, or a
Hugging Face id, through the `tokenizers` library); `claw_nb.context.tokenizers` loads them. A
request is counted the way chat templates spend tokens: a few per message, its texts and
tool-call arguments, and the tool schemas as the JSON the template puts in the prompt. Counts
are cached per message, so a long session does not recount its whole history on every step, and
a calibration factor learnt from the usage servers report corrects a tokenizer that does not
match the model's. While the tokenizer is not loaded, the context manager estimates small
requests from their length instead of loading it (`TokenCounter.bound`): a run whose server
reports usage never pays for the tokenizer.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from claw_nb.context.tokenizers import GGUF_LABEL, Encoder, encoder, is_loaded, prompt_tokens
from claw_nb.tools.base import specs_json

DEFAULT_WINDOW = 32_768
MAX_RESERVE = 4_096
PRIMING = 3  # tokens a request adds to prime the reply (OpenAI's accounting, LiteLLM's too)
MAX_RATIO = 3.0
CHARS_PER_TOKEN = 3  # conservative, for budgets counted in characters


PER_MESSAGE = 3  # role and separators around each message (OpenAI's accounting)
PER_NAME = 1
PER_TOOL = 10  # the template's wrapping of each tool schema
# Chat templates leave call ids out of the prompt (the tool calls' own ids are not counted either).
UNRENDERED_FIELDS = frozenset({"tool_call_id"})


class TokenCounter:
    """Counts tokens of texts, messages and whole requests for one model."""

    def __init__(
        self, model: str, tokenizer: str | None = None, *, chat_template: bool = False
    ) -> None:
        self.model = model
        self.tokenizer_name = tokenizer
        # Requests without tools are rendered with the GGUF's own chat template and counted
        # whole, as the embedded server does (tools_in_prompt): `tokenizers.prompt_tokens`.
        self.chat_template = chat_template
        self.description = ""
        self._count: Encoder | None = None
        self._cache: dict[int, tuple[dict, Any, int]] = {}
        self._sized: dict[int, tuple[dict, Any, int, int]] = {}  # see `_sizes`
        self._tools_key: str | None = None
        self._tools_count = 0
        self._template_gap: dict[str, int] = {}  # tool-set key -> what the template adds/saves

    def _encoder(self) -> Encoder:
        if self._count is None:
            self._count, self.description = encoder(self.tokenizer_name)
        return self._count

    @property
    def exact(self) -> bool:
        """Whether texts are counted with the server's own tokenizer (a GGUF file's vocabulary),
        so the gap to the server's count is the chat template's, not the tokenizer's. Loads a
        tokenizer only when one is a GGUF file (whose counter is loaded up front anyway)."""
        if not self.local_vocabulary:
            return False
        self._encoder()
        return self.description.startswith(GGUF_LABEL)

    def learn_template(self, counted: int, server: int) -> None:
        """Take the gap between a request as counted (with the current tool set) and as the
        server counted it as what the template does to the tool schemas: llama.cpp's
        function-calling templates render them far shorter than their JSON. Only for `exact`
        counters on servers that report whole prompts (a prompt cache's discount would be
        learnt as a gap, so other servers keep the ratio calibration)."""
        key = self._tools_key
        if key is None:
            return
        learned = self._tools_count + self._template_gap.get(key, 0) + (server - counted)
        if self._tools_count * 0.25 <= learned <= self._tools_count * 3:
            self._template_gap[key] = learned - self._tools_count

    @property
    def local_vocabulary(self) -> bool:
        """Counting with a GGUF file's vocabulary: cheap to load (~0.2 s), and worth loading
        at once, since only exact counts teach the counter the server's template."""
        return (self.tokenizer_name or "").lower().endswith(".gguf")

    @property
    def loaded(self) -> bool:
        """Whether exact counting is ready without loading a tokenizer first."""
        return self._count is not None or is_loaded(self.tokenizer_name)

    def bound(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        """A generous bound on the request's tokens, from lengths alone (no tokenizer).

        ASCII text takes at least two characters a token in every BPE vocabulary claw_nb
        counts with; other characters are bounded by their UTF-8 bytes."""
        total = PRIMING + (_text_bound(specs_json(tools, ensure_ascii=False)) if tools else 0)
        for message in messages:
            total += PER_MESSAGE + self._sizes(message)[0]
        if len(self._sized) > 2 * len(messages) + 64:
            keep = {id(m) for m in messages}
            self._sized = {k: v for k, v in self._sized.items() if k in keep}
        return total

    def estimate(self, value: Any) -> int:
        """A quick estimate of the tokens of a message or any JSON value (~4 bytes a token)."""
        if isinstance(value, dict):
            return self._sizes(value)[1]
        return PER_MESSAGE + len(json.dumps(value, ensure_ascii=False).encode("utf-8")) // 4

    def _sizes(self, message: dict[str, Any]) -> tuple[int, int]:
        """(the bound, the estimate) of one message, remembered while the message object and
        its content stay the same ones, as `message` does: every step measures the whole
        history again, and a compaction puts new messages in place of the old."""
        key = id(message)
        content = message.get("content")
        hit = self._sized.get(key)
        if hit is not None and hit[0] is message and hit[1] is content:
            return hit[2], hit[3]
        text = _message_text(message)
        sizes = (_text_bound(text), PER_MESSAGE + len(text.encode("utf-8")) // 4)
        self._sized[key] = (message, content, *sizes)
        return sizes

    def text(self, text: str) -> int:
        if not text:
            return 0
        try:
            return self._encoder()(text)
        except Exception:  # noqa: BLE001 - counting is best effort; never stop the agent over it
            return len(text) // 3 + 1

    def message(self, message: dict[str, Any]) -> int:
        """Tokens one message adds to a request (cached until the message object changes)."""
        key = id(message)
        content = message.get("content")
        hit = self._cache.get(key)
        if hit is not None and hit[0] is message and hit[1] is content:
            return hit[2]
        count = PER_MESSAGE
        for field, value in message.items():
            if value is None or field in UNRENDERED_FIELDS:
                continue
            if field == "tool_calls" and isinstance(value, list):
                for call in value:
                    function = call.get("function") or {} if isinstance(call, dict) else {}
                    count += self.text(str(function.get("name") or ""))
                    count += self.text(str(function.get("arguments") or ""))
            elif isinstance(value, str):
                count += self.text(value) + (PER_NAME if field == "name" else 0)
            elif field == "content" and isinstance(value, list):
                count += sum(
                    self.text(str(part.get("text") or "")) if isinstance(part, dict) else 0
                    for part in value
                )
        self._cache[key] = (message, content, count)
        return count

    def tools(self, specs: list[dict[str, Any]] | None) -> int:
        """Tokens of the tool schemas, counted as the JSON chat templates put in the prompt."""
        if not specs:
            return 0
        key = specs_json(specs, sort_keys=True)
        if key != self._tools_key:
            self._tools_count = sum(
                self.text(json.dumps(spec, ensure_ascii=False)) + PER_TOOL for spec in specs
            )
            self._tools_key = key
        return self._tools_count + self._template_gap.get(key, 0)

    def request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        """Tokens of a whole request: messages, tool specs and the reply priming."""
        if self.chat_template and not tools and self.local_vocabulary:
            try:
                return prompt_tokens(self.tokenizer_name or "", messages)
            except Exception:  # noqa: BLE001 - no template, a template that refuses: by message
                pass
        total = PRIMING + self.tools(tools) + sum(self.message(m) for m in messages)
        if len(self._cache) > 2 * len(messages) + 64:
            self.forget_except(messages)
        return total

    def forget_except(self, messages: list[dict[str, Any]]) -> None:
        keep = {id(m) for m in messages}
        self._cache = {k: v for k, v in self._cache.items() if k in keep}


def _message_text(message: dict[str, Any]) -> str:
    parts = []
    for value in message.values():
        if isinstance(value, str):
            parts.append(value)
        elif value is not None:
            parts.append(json.dumps(value, ensure_ascii=False, default=str))
    return "\n".join(parts)


def _text_bound(text: str) -> int:
    extra = len(text.encode("utf-8")) - len(text)  # 0 for ASCII
    return len(text) // 2 + extra + 1


def model_window(config: Any) -> tuple[int, str]:
    """(context window in tokens, where the figure came from).

    The `context_window` setting wins; Ollama's window is the `num_ctx` claw_nb asks for (a
    setting can only lower it); otherwise LiteLLM's model info; else 32768.
    """
    setting = getattr(config, "context_window", None)
    if config.is_ollama:
        if setting and setting < config.num_ctx:
            return int(setting), "context_window setting"
        return int(config.num_ctx), "num_ctx (Ollama)"
    if setting:
        return int(setting), "context_window setting"
    from claw_nb.model.catalog import context_window

    size = context_window(config.model)
    if size:
        return size, "LiteLLM model info"
    return DEFAULT_WINDOW, "default"


def default_reserve(window: int) -> int:
    """Tokens kept free for the reply when no `reserve_tokens` setting says otherwise."""
    return max(256, min(MAX_RESERVE, window // 5))


_WINDOW_RES = (
    re.compile(r"maximum context length is (\d+)", re.IGNORECASE),
    re.compile(
        r"context (?:size|window|length) (?:of |is )?\(?(\d+)(?: tokens)?\)?", re.IGNORECASE
    ),
    re.compile(r"n_ctx(?:_slot)?\s*[=:]\s*(\d+)", re.IGNORECASE),
)
_REQUESTED_RES = (
    re.compile(r"(\d+) (?:tokens )?in the messages", re.IGNORECASE),
    re.compile(r"messages resulted in (\d+) tokens", re.IGNORECASE),
    re.compile(r"request \((\d+) tokens\)", re.IGNORECASE),
    re.compile(r"prompt is too long: (\d+) tokens", re.IGNORECASE),
    re.compile(r"requested (\d+) tokens", re.IGNORECASE),
)


def parse_context_error(text: str) -> tuple[int | None, int | None]:
    """(window, prompt tokens) from a server's "context length exceeded" message, when given.

    Understands OpenAI / vLLM ("maximum context length is 4096 tokens. However, you requested
    5000 tokens (4000 in the messages, ...)"), llama.cpp ("request (5000 tokens) exceeds the
    available context size (4096 tokens)") and Anthropic ("prompt is too long: N tokens").
    """
    window = requested = None
    for pattern in _WINDOW_RES:
        match = pattern.search(text)
        if match and int(match.group(1)) >= 256:
            window = int(match.group(1))
            break
    for pattern in _REQUESTED_RES:
        match = pattern.search(text)
        if match:
            requested = int(match.group(1))
            break
    return window, requested


def scaled(tokens: int, ratio: float) -> int:
    return math.ceil(tokens * ratio)
