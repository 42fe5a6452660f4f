"""What a failed model call means: retry it, or tell the user what to do.

Both model paths (LiteLLM and the direct OpenAI-compatible one) raise their own exception types;
this module classifies either by what they carry (an HTTP status, a message, a network fault), so
the user sees the same `ModelError` whichever path made the call. Also here: the server's
`Retry-After`, and whether the server's port answers at all (a refused connection is not worth
five retries).
"""

from __future__ import annotations

import socket
import sys
from typing import Any
from urllib.parse import urlparse

from claw_nb.config import ClawConfig
from claw_nb.errors import (
    ContextLengthExceeded,
    ModelAuthError,
    ModelError,
    ModelUnreachable,
)

_CONTEXT_PHRASES = (
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "too long",
    "context size",
    "exceeds the available context",
)
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
_TIMEOUT_NAMES = frozenset({"Timeout", "APITimeoutError", "ReadTimeout"})
_CONNECT_NAMES = frozenset({"ConnectTimeout", "ConnectError"})


class HTTPStatusFailure(Exception):
    """An HTTP error answer from an OpenAI-compatible server (the direct path's error type)."""

    def __init__(self, status_code: int, message: str, headers: Any = None) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}


def classify_failure(exc: BaseException, config: ClawConfig) -> ModelError | None:
    """The user-facing error for faults retrying cannot fix; None for transient ones."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise exc
    status = status_code(exc)
    # only when loaded (its types are the LiteLLM path's errors), and loaded whole: the
    # notebook imports it on a background thread, so it may be half imported right now
    window_error = getattr(sys.modules.get("litellm"), "ContextWindowExceededError", None)
    if isinstance(window_error, type) and isinstance(exc, window_error):
        return _context_error(exc)
    if status == 400 and looks_like_context_error(exc):
        return _context_error(exc)
    if status in (401, 403):
        return ModelAuthError(
            f"the model server refused the API key ({short(exc)})", fixes=("api_key",)
        )
    if status == 404:
        hint = (
            f"; pull it with `ollama pull {config.model.split('/', 1)[1]}`"
            if config.is_ollama
            else "; check the model name with the server's /v1/models"
        )
        return ModelError(f"model '{config.model}' not found: {short(exc)}{hint}", fixes=("model",))
    if status in (400, 413, 422):
        if looks_like_context_error(exc):
            return _context_error(exc)
        return ModelError(f"the model server rejected the request: {short(exc)}")
    transient = status is not None and (status >= 500 or status in TRANSIENT_STATUS)
    if transient or is_network_error(exc):
        # "Connection error" hides behind several classes; a refused socket is not transient.
        return None if server_reachable(config) else unreachable(config)
    if status is not None:
        return ModelError(f"the model server returned an error: {short(exc)}")
    if not server_reachable(config):
        return unreachable(config)
    return ModelError(f"unexpected error from the model layer: {type(exc).__name__}: {short(exc)}")


def _context_error(exc: BaseException) -> ContextLengthExceeded:
    return ContextLengthExceeded(
        f"the conversation no longer fits the model's context window ({short(exc)}); "
        "start a new session, raise num_ctx, or use a model with a larger window"
    )


def status_code(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (LiteLLM's, the OpenAI SDK's or ours), if any."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def is_network_error(exc: BaseException) -> bool:
    """Socket faults and httpx's (LiteLLM's transport), e.g. a stream cut midway."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    httpx = sys.modules.get("httpx")
    kinds = tuple(
        kind
        for kind in (getattr(httpx, "TransportError", None), getattr(httpx, "StreamError", None))
        if isinstance(kind, type)
    )  # none while httpx is half imported (a background import)
    return bool(kinds) and isinstance(exc, kinds)


def is_read_timeout(exc: BaseException) -> bool:
    """A timeout while waiting for the server's answer (not while connecting), whichever
    library raised it (httpx, the OpenAI SDK, LiteLLM): the chain of causes is searched."""
    chain = _causes(exc)
    if any(type(e).__name__ in _CONNECT_NAMES for e in chain):
        return False
    timeout = getattr(sys.modules.get("httpx"), "TimeoutException", None)
    return any(
        isinstance(e, TimeoutError)
        or type(e).__name__ in _TIMEOUT_NAMES
        or (isinstance(timeout, type) and isinstance(e, timeout))
        for e in chain
    )


def _causes(exc: BaseException | None, limit: int = 6) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc is not None and len(chain) < limit:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (`Retry-After`), if it said."""
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


def looks_like_context_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(phrase in text for phrase in _CONTEXT_PHRASES)


def server_reachable(config: ClawConfig) -> bool:
    """Whether the server's port accepts a connection (True for cloud providers: retries decide)."""
    url = config.effective_api_base
    if not url:
        return True
    parsed = urlparse(url if "://" in url else f"http://{url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=3):
            return True
    except OSError:
        return False


def unreachable(config: ClawConfig) -> ModelUnreachable:
    """The server is not there: start one, or point claw_nb at another (the shell says how)."""
    return ModelUnreachable(unreachable_message(config), fixes=("api_base", "model"))


def unreachable_message(config: ClawConfig) -> str:
    url = config.effective_api_base
    if config.is_ollama:
        how = f"start Ollama with `ollama serve` and `ollama pull {config.model.split('/', 1)[1]}`"
    else:
        how = (
            "start a server, e.g. `ollama serve`, `vllm serve MODEL --port 8000` or "
            "`llama-server -m MODEL.gguf --port 8080 --jinja`"
        )
    return f"cannot reach the model server at {url}: {how}"


def short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ").strip()
    return text[:300] + ("..." if len(text) > 300 else "")
