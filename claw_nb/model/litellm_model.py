"""The model layer: one chat completion through LiteLLM, streamed or not, with retries.

Returns a `ModelReply` with the text, the tool calls (native or parsed out of the text in the
dialects local models write), usage (from the server, else counted) and timings. Transient faults
are retried here; faults the user must act on become `ModelError` subclasses with messages that
say what to do.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from claw_nb.config import ClawConfig
from claw_nb.errors import (
    ContextLengthExceeded,
    ModelAuthError,
    ModelError,
    ModelInterrupted,
    ModelUnreachable,
)
from claw_nb.model._litellm import litellm
from claw_nb.toolcalls import (
    StreamingToolCallAccumulator,
    ToolCall,
    extract_text_tool_calls,
    from_native,
)


@dataclass
class ModelReply:
    """What one model call produced, with the figures the log wants."""

    content: str
    tool_calls: list[ToolCall]
    native_tool_calls: bool
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    usage_source: str
    latency_ms: float
    ttft_ms: float | None
    attempts: int
    streamed: bool
    cached_tokens: int | None = None
    cost_usd: float | None = None
    reasoning: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


TextCallback = Callable[[str], None]
RetryCallback = Callable[[int, float, str], None]

_TEXT_CALL_MARKERS = ("<tool_call", "<function=")


class _VisibleText:
    """Passes streamed text through until a text-embedded tool call starts.

    Local models write calls such as `<tool_call>...` into their text; the user should see the
    prose, not the raw markup. A possible marker prefix at the end of a chunk is held back.
    """

    def __init__(self, sink: TextCallback | None) -> None:
        self.sink = sink
        self.pending = ""
        self.stopped = False

    def feed(self, text: str) -> None:
        if self.sink is None or self.stopped or not text:
            return
        buffer = self.pending + text
        cut = min((i for i in (buffer.find(m) for m in _TEXT_CALL_MARKERS) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._emit(buffer[:cut])
            self.pending = ""
            return
        hold = 0
        for marker in _TEXT_CALL_MARKERS:
            for n in range(min(len(marker) - 1, len(buffer)), 0, -1):
                if buffer.endswith(marker[:n]):
                    hold = max(hold, n)
                    break
        self.pending = buffer[len(buffer) - hold :] if hold else ""
        self._emit(buffer[: len(buffer) - hold])

    def flush(self) -> None:
        if not self.stopped:
            self._emit(self.pending)
        self.pending = ""

    def _emit(self, text: str) -> None:
        if text and self.sink is not None:
            self.sink(text)


class LiteLLMModel:
    """Chat completions for any model LiteLLM reaches, with bounded retries."""

    def __init__(self, config: ClawConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._counter = None  # a claw_nb.context.tokens.TokenCounter, made on first use

    @property
    def name(self) -> str:
        return self.config.model

    def request_params(self) -> dict[str, Any]:
        """Sampling and window parameters sent with every call (also logged)."""
        params: dict[str, Any] = {}
        if self.config.temperature is not None:
            params["temperature"] = self.config.temperature
        if self.config.is_ollama:
            params["num_ctx"] = self.config.num_ctx
        return params

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: TextCallback | None = None,
        on_retry: RetryCallback | None = None,
        known_tools: dict[str, Any] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ModelReply:
        """One assistant turn. Retries 5xx, 429, timeouts and cut streams with backoff."""
        attempts = 0
        while True:
            attempts += 1
            started = time.perf_counter()
            try:
                if self.config.stream:
                    reply = self._call_streaming(
                        messages, tools, on_text, started, known_tools, should_stop
                    )
                else:
                    reply = self._call_once(messages, tools, on_text, started, known_tools)
                reply.attempts = attempts
                if reply.usage_source == "counted" or not reply.prompt_tokens:
                    self._count_usage(reply, messages, tools)
                return reply
            except ModelInterrupted:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below: fatal raise, transient retry
                fatal = self._fatal_error(exc)
                if fatal is not None:
                    raise fatal from None
                if attempts > self.config.max_retries:
                    raise ModelError(
                        f"model call failed after {attempts} attempts: {_short(exc)}"
                    ) from None
                delay = _retry_after(exc)
                if delay is None:
                    delay = self.config.retry_base_delay * (2 ** (attempts - 1))
                delay = min(delay, 60.0)
                if on_retry is not None:
                    on_retry(attempts, delay, _short(exc))
                self._sleep(delay)
                if should_stop is not None and should_stop():
                    raise ModelInterrupted("stopped by the user while retrying") from None

    def _fatal_error(self, exc: Exception) -> ModelError | None:
        """The user-facing error for faults retrying cannot fix; None for transient ones."""
        lib = litellm()
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise exc
        if isinstance(exc, lib.ContextWindowExceededError) or (
            isinstance(exc, lib.BadRequestError) and _looks_like_context_error(exc)
        ):
            return ContextLengthExceeded(
                f"the conversation no longer fits the model's context window ({_short(exc)}); "
                "start a new session, raise num_ctx, or use a model with a larger window"
            )
        if isinstance(exc, (lib.AuthenticationError, lib.PermissionDeniedError)):
            return ModelAuthError(
                f"the model server refused the API key ({_short(exc)}); "
                "set CLAW_API_KEY or pass --api-key"
            )
        if isinstance(exc, lib.NotFoundError):
            hint = (
                f"; pull it with `ollama pull {self.config.model.split('/', 1)[1]}`"
                if self.config.is_ollama
                else "; check the model name with the server's /v1/models"
            )
            return ModelError(f"model '{self.config.model}' not found: {_short(exc)}{hint}")
        if isinstance(exc, (lib.BadRequestError, lib.UnprocessableEntityError)):
            return ModelError(f"the model server rejected the request: {_short(exc)}")
        transient = (
            lib.RateLimitError,
            lib.InternalServerError,
            lib.ServiceUnavailableError,
            lib.APIConnectionError,
            lib.Timeout,
            lib.APIError,
        )
        if isinstance(exc, transient) or _is_network_error(exc):
            # "Connection error" hides behind several classes; a refused socket is not transient.
            return None if self._server_reachable() else ModelUnreachable(self._unreachable_message())
        if isinstance(exc, lib.openai.APIStatusError) and getattr(exc, "status_code", 0) >= 500:
            return None
        if isinstance(exc, lib.openai.APIStatusError):
            return ModelError(f"the model server returned an error: {_short(exc)}")
        if not self._server_reachable():
            return ModelUnreachable(self._unreachable_message())
        return ModelError(f"unexpected error from the model layer: {type(exc).__name__}: {_short(exc)}")

    # -- one attempt ------------------------------------------------------------------------

    def _kwargs(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "timeout": self.config.request_timeout,
            "max_retries": 0,  # retries are ours, counted and logged
            "_skip_mcp_handler": True,
            "drop_params": True,  # per call: never change the user's global litellm settings
            **self.request_params(),
        }
        if tools:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = "auto"  # llama.cpp's server drops the tools without it
        if self.config.api_base:
            kwargs["api_base"] = self.config.api_base
        if self.config.api_key:
            kwargs["api_key"] = self.config.api_key
        return kwargs

    def _call_once(self, messages, tools, on_text, started, known_tools) -> ModelReply:
        response = litellm().completion(**self._kwargs(messages, tools))
        latency = (time.perf_counter() - started) * 1000
        choice = response.choices[0]
        message = choice.message
        content = message.content or ""
        native = [_as_dict(tc) for tc in (message.tool_calls or [])]
        reply = self._reply(content, native, choice.finish_reason, known_tools, latency, None, False)
        reply.reasoning = getattr(message, "reasoning_content", None)
        _apply_usage(reply, getattr(response, "usage", None))
        reply.cost_usd = _cost(response)
        if on_text is not None:
            visible = _VisibleText(on_text)
            visible.feed(reply.content)
            visible.flush()
        return reply

    def _call_streaming(
        self, messages, tools, on_text, started, known_tools, should_stop=None
    ) -> ModelReply:
        kwargs = self._kwargs(messages, tools)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        stream = litellm().completion(**kwargs)
        visible = _VisibleText(on_text)
        accumulator = StreamingToolCallAccumulator()
        parts: list[str] = []
        reasoning: list[str] = []
        finish_reason = None
        usage = None
        ttft = None
        try:
            for chunk in stream:
                if should_stop is not None and should_stop():
                    raise ModelInterrupted("stopped by the user while the model was answering")
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                text = getattr(delta, "content", None)
                thought = getattr(delta, "reasoning_content", None)
                if ttft is None and (text or thought or getattr(delta, "tool_calls", None)):
                    ttft = (time.perf_counter() - started) * 1000
                if text:
                    parts.append(text)
                    visible.feed(text)
                if thought:
                    reasoning.append(thought)
                if getattr(delta, "tool_calls", None):
                    accumulator.add(delta.tool_calls)
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
        finally:
            _close_stream(stream)
        visible.flush()
        latency = (time.perf_counter() - started) * 1000
        reply = self._reply(
            "".join(parts), accumulator.finish(), finish_reason, known_tools, latency, ttft, True
        )
        reply.reasoning = "".join(reasoning) or None
        _apply_usage(reply, usage)
        reply.cost_usd = 0.0 if self.config.is_ollama else None
        return reply

    def _reply(self, content, native, finish_reason, known_tools, latency, ttft, streamed):
        calls = from_native(native) if native else []
        if not calls:
            content, calls = extract_text_tool_calls(content, known_tools)
        else:
            content = content.strip()
        return ModelReply(
            content=content,
            tool_calls=calls,
            native_tool_calls=bool(native),
            finish_reason=finish_reason,
            prompt_tokens=0,
            completion_tokens=0,
            usage_source="counted",
            latency_ms=latency,
            ttft_ms=ttft,
            attempts=1,
            streamed=streamed,
            params=self.request_params(),
        )

    def _count_usage(self, reply: ModelReply, messages, tools) -> None:
        """Servers that report no usage: count locally (never LiteLLM's per-model lookup, which
        tries to download tokenizers from the internet and stalls offline)."""
        if self._counter is None:
            from claw_nb.context.tokens import TokenCounter

            self._counter = TokenCounter(self.config.model, getattr(self.config, "tokenizer", None))
        reply.prompt_tokens = self._counter.request(messages, tools)
        completion = reply.content + "".join(c.name + c.raw_arguments for c in reply.tool_calls)
        reply.completion_tokens = self._counter.text(completion)
        reply.usage_source = "counted"

    def _server_reachable(self) -> bool:
        url = self.config.effective_api_base
        if not url:
            return True  # a cloud provider: let retries decide
        parsed = urlparse(url if "://" in url else f"http://{url}")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname or "localhost", port), timeout=3):
                return True
        except OSError:
            return False

    def _unreachable_message(self) -> str:
        url = self.config.effective_api_base
        if self.config.is_ollama:
            how = (
                f"start Ollama with `ollama serve` and `ollama pull {self.config.model.split('/', 1)[1]}`"
            )
        else:
            how = (
                "start a server, e.g. `ollama serve`, `vllm serve MODEL --port 8000` or "
                "`llama-server -m MODEL.gguf --port 8080 --jinja`, or set CLAW_API_BASE / --api-base"
            )
        return f"cannot reach the model server at {url}: {how}"


def _as_dict(tool_call: Any) -> dict[str, Any]:
    if isinstance(tool_call, dict):
        return tool_call
    function = tool_call.function
    return {
        "id": getattr(tool_call, "id", None),
        "type": "function",
        "function": {"name": function.name, "arguments": function.arguments},
    }


def _apply_usage(reply: ModelReply, usage: Any) -> None:
    if not usage:
        return
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    if prompt:
        reply.prompt_tokens = int(prompt)
        reply.completion_tokens = int(completion or 0)
        reply.usage_source = "server"
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details else None
    if cached is not None:
        reply.cached_tokens = int(cached)


def _cost(response: Any) -> float | None:
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    return float(cost) if cost is not None else None


def _close_stream(stream: Any) -> None:
    """Close the HTTP response behind a stream: a leftover one can deadlock httpx's pool."""
    for path in (("completion_stream", "response"), ("completion_stream", "streaming_response")):
        obj = stream
        for attr in path:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        close = getattr(obj, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001, S110 - already closed or half-broken: nothing to do
                pass


def _retry_after(exc: Exception) -> float | None:
    for headers in (
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
    ):
        if not headers:
            continue
        value = headers.get("retry-after") or headers.get("Retry-After")
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def _is_network_error(exc: Exception) -> bool:
    """httpx / socket faults that escape LiteLLM's mapping, e.g. a stream cut midway."""
    import httpx

    return isinstance(exc, (httpx.TransportError, httpx.StreamError, ConnectionError, TimeoutError))


def _looks_like_context_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        s in text
        for s in ("context length", "context_length", "context window", "maximum context", "too long")
    )


def _short(exc: Exception) -> str:
    text = str(exc).replace("\n", " ").strip()
    return text[:300] + ("..." if len(text) > 300 else "")
