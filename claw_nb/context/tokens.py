"""Token counts for requests, and the model's window.

Counting goes through LiteLLM's `token_counter` with an explicit tokenizer: tiktoken's default
encoding, or the model's own tokenizer when the `tokenizer` setting names one (a local
`tokenizer.json`, or a Hugging Face id). LiteLLM's automatic choice is not used: for names such as
`llama-3` it downloads a tokenizer from the Hugging Face hub, and offline that stalls every count
for ~23 s. Counts are cached per message, so a long session does not recount its whole history on
every step, and a calibration factor learnt from the usage servers report corrects a tokenizer
that does not match the model's.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

from claw_nb.model._litellm import litellm

DEFAULT_WINDOW = 32_768
MAX_RESERVE = 4_096
PRIMING = 3  # tokens a request adds to prime the reply (OpenAI's accounting, LiteLLM's too)
MAX_RATIO = 3.0


class TokenCounter:
    """Counts tokens of texts, messages and whole requests for one model."""

    def __init__(self, model: str, tokenizer: str | None = None) -> None:
        self.model = model
        self.tokenizer_name = tokenizer
        self.description = ""
        self._custom: dict[str, Any] | None = None
        self._cache: dict[int, tuple[dict, Any, int]] = {}
        self._tools_key: str | None = None
        self._tools_count = 0

    def _tokenizer(self) -> dict[str, Any]:
        if self._custom is None:
            self._custom, self.description = _load_tokenizer(self.tokenizer_name)
        return self._custom

    def text(self, text: str) -> int:
        if not text:
            return 0
        try:
            return int(litellm().token_counter(custom_tokenizer=self._tokenizer(), text=text))
        except Exception:  # noqa: BLE001 - counting is best effort; never stop the agent over it
            return len(text) // 3 + 1

    def message(self, message: dict[str, Any]) -> int:
        """Tokens one message adds to a request (cached until the message object changes)."""
        key = id(message)
        content = message.get("content")
        hit = self._cache.get(key)
        if hit is not None and hit[0] is message and hit[1] is content:
            return hit[2]
        try:
            count = int(
                litellm().token_counter(custom_tokenizer=self._tokenizer(), messages=[message])
            ) - PRIMING
        except Exception:  # noqa: BLE001 - e.g. content LiteLLM cannot parse
            count = len(json.dumps(message, default=str)) // 3 + 4
        self._cache[key] = (message, content, count)
        return count

    def tools(self, specs: list[dict[str, Any]] | None) -> int:
        if not specs:
            return 0
        key = json.dumps(specs, sort_keys=True)
        if key != self._tools_key:
            try:
                total = litellm().token_counter(
                    custom_tokenizer=self._tokenizer(), messages=[], tools=specs
                )
                self._tools_count = int(total) - PRIMING
            except Exception:  # noqa: BLE001 - best effort, as above
                self._tools_count = len(key) // 3
            self._tools_key = key
        return self._tools_count

    def request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        """Tokens of a whole request: messages, tool specs and the reply priming."""
        total = PRIMING + self.tools(tools) + sum(self.message(m) for m in messages)
        if len(self._cache) > 2 * len(messages) + 64:
            self.forget_except(messages)
        return total

    def forget_except(self, messages: list[dict[str, Any]]) -> None:
        keep = {id(m) for m in messages}
        self._cache = {k: v for k, v in self._cache.items() if k in keep}


def _load_tokenizer(name: str | None) -> tuple[dict[str, Any], str]:
    """(LiteLLM custom tokenizer, description); tiktoken's default when `name` cannot be loaded."""
    lib = litellm()
    if name:
        try:
            path = Path(name).expanduser()
            if path.is_file():
                return lib.create_tokenizer(path.read_text(encoding="utf-8")), f"tokenizer {path.name}"
            return lib.create_pretrained_tokenizer(name), f"tokenizer {name}"
        except Exception as exc:  # noqa: BLE001 - offline, missing file, bad JSON: fall back
            warnings.warn(
                f"claw_nb: cannot load tokenizer {name!r} ({exc}); counting with tiktoken",
                stacklevel=3,
            )
    from litellm.utils import get_default_encoding

    encoding = get_default_encoding()
    return {"type": "openai_tokenizer", "tokenizer": encoding}, f"tiktoken {encoding.name}"


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
    try:
        info = litellm().get_model_info(config.model)
        size = info.get("max_input_tokens") or info.get("max_tokens")
        if size:
            return int(size), "LiteLLM model info"
    except Exception:  # noqa: BLE001, S110 - a model LiteLLM does not know: use the default
        pass
    return DEFAULT_WINDOW, "default"


def default_reserve(window: int) -> int:
    """Tokens kept free for the reply when no `reserve_tokens` setting says otherwise."""
    return max(256, min(MAX_RESERVE, window // 5))


_WINDOW_RES = (
    re.compile(r"maximum context length is (\d+)", re.IGNORECASE),
    re.compile(r"context (?:size|window|length) (?:of |is )?\(?(\d+)(?: tokens)?\)?", re.IGNORECASE),
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
