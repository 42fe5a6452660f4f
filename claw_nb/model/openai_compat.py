"""The direct path: chat completions from an OpenAI-compatible server, over plain HTTP.

For the local servers claw_nb is built for (llama.cpp, vLLM, LM Studio, the scripted test
server) LiteLLM only forwards the request; importing it costs seconds and each call several
milliseconds more. This path speaks the same wire format itself and keeps every behaviour of
the LiteLLM path: retries (shared, in `RetryingModel`), tool calls native or written in text,
usage from the server (else counted), cost where the catalog knows the model, the request closed
by a stop (even while the server is silent), and errors classified the same way (`claw_nb.model.failures`). The HTTP
itself is `claw_nb.model.http_transport` (the standard library's `http.client`: httpx costs
~0.5 s of imports at start).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from claw_nb.config import ClawConfig
from claw_nb.locality import OPENAI_COMPATIBLE_PREFIXES
from claw_nb.model import catalog
from claw_nb.model.failures import HTTPStatusFailure
from claw_nb.model.http_transport import HTTPTransport, StreamCut
from claw_nb.model.reply import (
    ModelReply,
    apply_server_timings,
    apply_server_usage,
    whole_reply,
)
from claw_nb.model.retries import RetryingModel
from claw_nb.model.streamed_reply import StreamedReply, show_whole_reply
from claw_nb.model.tool_progress import ToolProgressTracker
from claw_nb.model.visible_text import TextCallback

#: LiteLLM model prefixes of OpenAI-compatible servers; the rest of the name goes to the server.
CONNECT_TIMEOUT = 10.0


class OpenAICompatModel(RetryingModel):
    """Chat completions from `{api_base}/chat/completions`, one keep-alive connection pool."""

    backend = "direct"

    def __init__(self, config: ClawConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config, sleep)
        if not config.api_base:
            raise ValueError("the direct model path needs api_base")
        self.url = config.api_base.rstrip("/") + "/chat/completions"
        self.server_model = server_model_name(config.model)
        self._client: HTTPTransport | None = None

    def _http(self) -> HTTPTransport:
        if self._client is None:
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            if self.config.api_key:
                headers["Authorization"] = f"Bearer {self.config.api_key}"
            self._client = HTTPTransport(self.url, headers)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def abort_request(self) -> None:
        """A stop: shut the socket of the request in flight (see `HTTPTransport.abort`)."""
        self._http().abort()

    def reset_abort(self) -> None:
        self._http().reset_abort()

    def _post(self, body: dict[str, Any], deadline: float) -> Any:
        read = self.read_timeout(deadline)
        response = self._http().post(_dumps(body), min(CONNECT_TIMEOUT, read), read)
        if response.status >= 400:
            text = self._http().read_all(response).decode("utf-8", errors="replace")
            raise _status_failure(response.status, text, response.headers)
        return response

    def _body(self, messages, tools, stream: bool) -> dict[str, Any]:
        params = self.request_params(tools)
        params.pop("num_ctx", None)  # an Ollama option; not part of the OpenAI API
        body: dict[str, Any] = {"model": self.server_model, "messages": messages, **params}
        if tools:
            body["tools"] = tools
        if self.grammar:  # llama.cpp servers (llama-cpp-python's too) take GBNF per request
            body["grammar"] = self.grammar
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    # -- one call, whole --------------------------------------------------------------------

    def _call_once(self, messages, tools, on_text, started, known_tools, deadline) -> ModelReply:
        response = self._post(self._body(messages, tools, stream=False), deadline)
        raw = self._http().read_all(response)
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            message = choice.get("message") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise HTTPStatusFailure(502, f"not a chat completion: {raw[:200]!r}") from exc
        reply = whole_reply(
            message.get("content") or "",
            list(message.get("tool_calls") or []),
            choice.get("finish_reason"),
            known_tools,
            started=started,
            params=self.request_params(tools),
            reasoning=message.get("reasoning_content") or message.get("reasoning"),
        )
        self._usage_and_cost(reply, data.get("usage"))
        apply_server_timings(reply, data.get("timings"))  # llama.cpp's servers
        show_whole_reply(on_text, reply.content)
        return reply

    # -- one call, streamed -----------------------------------------------------------------

    def _call_streaming(
        self,
        messages,
        tools,
        on_text: TextCallback | None,
        started: float,
        known_tools,
        should_stop: Callable[[], bool] | None,
        deadline: float,
        progress: ToolProgressTracker | None = None,
    ) -> ModelReply:
        usage = timings = None
        transport = self._http()
        response = self._post(self._body(messages, tools, stream=True), deadline)
        streamed = StreamedReply(self.config, on_text, started, progress)
        finished = False
        try:
            for chunk in _events(transport.lines(response)):
                self.check_stream(should_stop, deadline)
                if chunk.get("error"):
                    raise _stream_error(chunk["error"])
                if chunk.get("usage"):
                    usage = chunk["usage"]
                timings = chunk.get("timings") or timings  # llama.cpp: on the last chunk
                choices = chunk.get("choices") or []
                if not choices:
                    continue
                choice = choices[0]
                delta = choice.get("delta") or {}
                streamed.add(
                    delta.get("content"),
                    delta.get("reasoning_content") or delta.get("reasoning"),
                    delta.get("tool_calls"),
                    choice.get("finish_reason"),
                )
            finished = True
        finally:
            if not finished:
                transport.discard()  # stopped or broken midway: never reuse that connection
        reply = streamed.reply(known_tools, self.request_params(tools))
        self._usage_and_cost(reply, usage)
        apply_server_timings(reply, timings)
        return reply

    def _usage_and_cost(self, reply: ModelReply, usage: Any) -> None:
        apply_server_usage(reply, usage)
        if reply.usage_source == "server":
            reply.cost_usd = catalog.cost_usd(
                self.config.model, reply.prompt_tokens, reply.completion_tokens
            )


def server_model_name(model: str) -> str:
    """The name the server knows: the LiteLLM string without its provider prefix."""
    for prefix in OPENAI_COMPATIBLE_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of a Server-Sent Events stream, up to `[DONE]`.

    A stream that ends without `[DONE]` was cut (a server that finished says so)."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event names
        payload = line[5:].strip()
        if payload == "[DONE]":
            for _ in lines:  # read to the end of the body, so the connection can be reused
                pass
            return
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        if isinstance(data, dict):
            yield data
    raise StreamCut("the stream ended before the server finished its reply")


def _status_failure(status: int, text: str, headers: Any) -> HTTPStatusFailure:
    message = text.strip()
    try:
        data = json.loads(text)
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):
            message = str(error.get("message") or error)
        elif error:
            message = str(error)
    except ValueError:
        pass
    return HTTPStatusFailure(status, message[:2000], headers)


def _stream_error(error: Any) -> HTTPStatusFailure:
    if isinstance(error, dict):
        status = error.get("code") if isinstance(error.get("code"), int) else 500
        return HTTPStatusFailure(status, str(error.get("message") or error))
    return HTTPStatusFailure(500, str(error))
