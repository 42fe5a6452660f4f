"""The part of a model call every path shares: retries, time bounds, usage, request parameters.

A path (LiteLLM, or the direct OpenAI-compatible one) implements one call, whole or streamed
(reading its stream through `claw_nb.model.streamed_reply`); `RetryingModel` retries transient
faults with backoff (or the server's `Retry-After`), bounds the whole reply (`reply_timeout`)
and the silence of a stream (`stream_idle_timeout`) with a `ModelTimeout` that says which bound
was hit, and counts usage itself when the server reported none.

A stop ends a call at once, whatever it is waiting for: the stop token (`claw_nb.stop`) calls
the path's `abort_request`, which closes the request in flight (a server still reading a long
prompt has sent nothing yet: only closing the socket ends that wait), and whatever the aborted
request raised becomes a `ModelInterrupted`, never a retry. A retry's backoff wakes on a stop too.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from claw_nb.config import ClawConfig
from claw_nb.errors import ModelError, ModelInterrupted, ModelTimeout
from claw_nb.model.failures import classify_failure, is_read_timeout, retry_after, short
from claw_nb.model.reply import ModelReply, RetryCallback
from claw_nb.model.tool_progress import ToolProgressCallback, ToolProgressTracker
from claw_nb.model.visible_text import TextCallback

MAX_RETRY_DELAY = 60.0


class StreamStalled(Exception):
    """No chunk arrived for `stream_idle_timeout` seconds (raised by a path, turned into a
    `ModelTimeout` here)."""


class RetryingModel(ABC):
    """A chat model with bounded retries; subclasses implement `_call_once` (a whole reply)
    and `_call_streaming` (a streamed one)."""

    backend = "base"

    def __init__(self, config: ClawConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._counter: Any = None  # a claw_nb.context.tokens.TokenCounter, made on first use
        # Some servers cannot stream tool calls (llama-cpp-python's chatml-function-calling
        # refuses "automatic streaming tool choice" and cuts the stream): after one such
        # failure with nothing received, requests with tools get whole replies.
        self.whole_replies_with_tools = False
        # Servers whose template has no place for tools get them described in the prompt.
        self.prompted = None
        self.grammar: str | None = None  # GBNF the current request carries (tool_grammar)
        if getattr(config, "tools_in_prompt", False):
            from claw_nb.toolcalls.in_prompt import PromptedTools

            self.prompted = PromptedTools(getattr(config, "tool_prompt_dialect", "hermes"))

    def streams(self, tools: list[dict[str, Any]] | None) -> bool:
        """Whether this request is streamed."""
        return self.config.stream and not (tools and self.whole_replies_with_tools)

    @property
    def name(self) -> str:
        return self.config.model

    def request_params(self, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Sampling, tool-choice and window parameters sent with a call (also logged)."""
        params: dict[str, Any] = {}
        if self.config.temperature is not None:
            params["temperature"] = self.config.temperature
        if tools and self.config.tool_choice:
            # llama-cpp-python's chatml-function-calling drops the tools without it.
            params["tool_choice"] = self.config.tool_choice
        if self.config.is_ollama:
            params["num_ctx"] = self.config.num_ctx
        if self.config.max_tokens:
            params["max_tokens"] = self.config.max_tokens
        return params

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: TextCallback | None = None,
        on_retry: RetryCallback | None = None,
        known_tools: dict[str, Any] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_tool_progress: ToolProgressCallback | None = None,
    ) -> ModelReply:
        """One assistant turn. Retries 5xx, 429, timeouts and cut streams with backoff.

        `on_tool_progress(index, name, chars)` hears, throttled, how far a streamed tool call
        has got (`claw_nb.model.tool_progress`); a whole reply reports nothing."""
        self.grammar = None
        if self.prompted is not None:  # the tools go in the prompt; calls come back as text
            if known_tools is None and tools:
                known_tools = {spec["function"]["name"]: spec["function"] for spec in tools}
            if self.config.tool_grammar:  # a llama.cpp server: constrain the reply's shape
                from claw_nb.model.tool_grammar import request_grammar

                self.grammar = request_grammar(messages, tools, self.config.workspace)
            messages, tools = self.prompted.messages(messages, tools), []
        self.reset_abort()
        unhook = _on_stop(should_stop, self.abort_request)
        try:
            return self._complete(
                messages, tools, on_text, on_retry, known_tools, should_stop, on_tool_progress
            )
        finally:
            unhook()

    def _complete(
        self, messages, tools, on_text, on_retry, known_tools, should_stop, on_tool_progress
    ) -> ModelReply:
        """`complete` once the stop is hooked to `abort_request` (arguments as there)."""
        attempts = 0
        deadline = time.monotonic() + self.config.reply_timeout
        fell_back = False
        while True:
            attempts += 1
            started = time.perf_counter()
            received: list[str] = []

            def seen_text(text: str) -> None:
                received.append(text)
                if on_text is not None:
                    on_text(text)

            streamed = self.streams(tools)
            try:
                try:
                    reply = self._attempt(
                        messages,
                        tools,
                        seen_text,
                        known_tools,
                        should_stop,
                        started,
                        deadline,
                        on_tool_progress=on_tool_progress,
                    )
                except ModelError:
                    raise
                except Exception as exc:  # noqa: BLE001 - classified: fatal raise, transient retry
                    if should_stop is not None and should_stop():  # aborted by the stop
                        raise _interrupted(received) from None
                    if isinstance(exc, StreamStalled):
                        raise self._stalled() from None
                    if streamed and is_read_timeout(exc) and time.monotonic() < deadline:
                        raise self._stalled() from None
                    fatal = classify_failure(exc, self.config)
                    if fatal is not None:
                        raise fatal from None
                    if streamed and tools and not received and not fell_back and _stream_broke(exc):
                        # Try the same request whole once; kept for the session if it works.
                        fell_back = self.whole_replies_with_tools = True
                        if on_retry is not None:
                            on_retry(
                                attempts,
                                0.0,
                                f"{short(exc)}; asking for a whole reply instead of a stream",
                            )
                        continue
                    if fell_back and not streamed:
                        self.whole_replies_with_tools = False  # streaming was not the problem
                    if attempts > self.config.max_retries:
                        raise ModelError(
                            f"model call failed after {attempts} attempts: {short(exc)}"
                        ) from None
                    delay = retry_after(exc)
                    if delay is None:
                        delay = self.config.retry_base_delay * (2 ** (attempts - 1))
                    delay = min(delay, MAX_RETRY_DELAY)
                    if time.monotonic() + delay >= deadline:
                        raise self._reply_timeout(attempts, short(exc)) from None
                    if on_retry is not None:
                        on_retry(attempts, delay, short(exc))
                    self._backoff(delay, should_stop)
                    if should_stop is not None and should_stop():
                        raise ModelInterrupted("stopped by the user while retrying") from None
                    continue
            except ModelError as exc:  # the failed call's row counts every request it made
                exc.attempts, exc.streamed = attempts, streamed
                raise
            reply.attempts = attempts
            if reply.usage_source != "server" or not reply.prompt_tokens:
                self._count_usage(reply, messages, tools)
            return reply

    def _backoff(self, delay: float, should_stop: Callable[[], bool] | None) -> None:
        """Wait `delay` seconds before a retry; a stop token's stop ends the wait."""
        wait = getattr(should_stop, "wait", None)
        if self._sleep is time.sleep and callable(wait):
            wait(delay)
        else:
            self._sleep(delay)

    def abort_request(self) -> None:
        """Close the request in flight, from any thread (the stop token's callback): a path
        that keeps connections shuts its socket. The base closes nothing; the caller still
        sees the stop between chunks."""

    def reset_abort(self) -> None:
        """Forget an earlier call's abort: a new call starts (before its stop is hooked)."""

    def _stalled(self) -> ModelTimeout:
        return ModelTimeout(
            f"the model server sent nothing for {self.config.stream_idle_timeout:g} s while "
            "streaming (stream_idle_timeout); it may be stuck, or still reading a long prompt: "
            "check the server, or raise stream_idle_timeout"
        )

    def _reply_timeout(self, attempts: int, last: str) -> ModelTimeout:
        return ModelTimeout(
            f"no complete reply within reply_timeout={self.config.reply_timeout:g} s "
            f"({attempts} attempt{'s' if attempts != 1 else ''}; the last: {last}); "
            "check the model server, or raise reply_timeout"
        )

    def check_stream(self, should_stop: Callable[[], bool] | None, deadline: float) -> None:
        """For a path's stream loop, before each chunk: the user's stop, and a reply that goes
        on past `reply_timeout`, end the stream here."""
        if should_stop is not None and should_stop():
            raise ModelInterrupted("stopped by the user while the model was answering")
        if time.monotonic() >= deadline:
            raise ModelTimeout(
                f"the reply was still streaming after reply_timeout="
                f"{self.config.reply_timeout:g} s; the model may be looping: raise reply_timeout "
                "or lower the reply's length"
            )

    def read_timeout(self, deadline: float) -> float:
        """Seconds one read may wait: the stream's silence bound or the request's, never past
        the reply's deadline."""
        per_read = (
            self.config.stream_idle_timeout if self.config.stream else self.config.request_timeout
        )
        return max(0.001, min(per_read, deadline - time.monotonic()))

    def _attempt(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        on_text: TextCallback | None,
        known_tools: dict[str, Any] | None,
        should_stop: Callable[[], bool] | None,
        started: float,
        deadline: float,
        on_tool_progress: ToolProgressCallback | None = None,
    ) -> ModelReply:
        """One request, streamed or whole as `streams` decides."""
        if self.streams(tools):
            return self._call_streaming(
                messages,
                tools,
                on_text,
                started,
                known_tools,
                should_stop,
                deadline,
                ToolProgressTracker.for_callback(on_tool_progress),
            )
        return self._call_once(messages, tools, on_text, started, known_tools, deadline)

    @abstractmethod
    def _call_once(self, messages, tools, on_text, started, known_tools, deadline) -> ModelReply:
        """The path's whole reply to one request (arguments as `_attempt`'s)."""

    @abstractmethod
    def _call_streaming(
        self, messages, tools, on_text, started, known_tools, should_stop, deadline, progress=None
    ) -> ModelReply:
        """The path's streamed reply, read through `StreamedReply`; `progress` is the tool
        calls' `ToolProgressTracker`, or None."""

    def _count_usage(self, reply: ModelReply, messages, tools) -> None:
        """Servers that report no usage: count the whole request, tool schemas included."""
        if self._counter is None:
            from claw_nb.context.tokens import TokenCounter

            self._counter = TokenCounter(
                self.config.model,
                getattr(self.config, "tokenizer", None),
                chat_template=self.prompted is not None,
            )
        reply.prompt_tokens = self._counter.request(messages, tools)
        completion = reply.content + "".join(c.name + c.raw_arguments for c in reply.tool_calls)
        reply.completion_tokens = self._counter.text(completion)
        reply.usage_source = "counted"

    def close(self) -> None:
        """Release connections (a no-op for paths that keep none)."""


def _on_stop(
    should_stop: Callable[[], bool] | None, callback: Callable[[], None]
) -> Callable[[], None]:
    """Run `callback` when a stop token stops (unhook with the result); a plain callable
    `should_stop` is only polled, between chunks."""
    on_stop = getattr(should_stop, "on_stop", None)
    return on_stop(callback) if callable(on_stop) else (lambda: None)


def _interrupted(received: list[str]) -> ModelInterrupted:
    if received:
        return ModelInterrupted("stopped by the user while the model was answering")
    return ModelInterrupted("stopped by the user while waiting for the model's reply")


def _stream_broke(exc: BaseException) -> bool:
    """A stream that ended or broke without an HTTP error status (what a server that cannot
    stream tool calls does), as opposed to a 5xx or 429, which is retried as it is."""
    text = f"{type(exc).__name__} {exc}".lower()
    return (
        "streamcut" in text
        or "stream ended" in text
        or "broke off" in text
        or "streaming tool choice" in text
        or "midstreamfallbackerror" in text  # LiteLLM's name for a stream that broke off
        or "incomplete chunked read" in text
    )
