"""Find model servers already running on this machine, on their usual ports.

A new user who runs Ollama, llama.cpp, vLLM or LM Studio should not have to say so: the
ports are probed concurrently on 127.0.0.1 only (never the network), each with a short
timeout, so a machine with nothing running answers in a fraction of a second.
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import field

from claw_nb.records import record

HOST = "127.0.0.1"
PROBE_TIMEOUT = 0.4  # seconds per port; connection refusals come back at once

# (name, port, path that lists the served models, LiteLLM prefix)
KNOWN_SERVERS: tuple[tuple[str, int, str, str], ...] = (
    ("ollama", 11434, "/api/tags", "ollama_chat/"),
    ("llama.cpp", 8080, "/v1/models", "openai/"),
    ("vllm", 8000, "/v1/models", "hosted_vllm/"),
    ("lm-studio", 1234, "/v1/models", "openai/"),
)


@record(frozen=True)
class FoundServer:
    """A server that answered, with the models it serves (first one is the default)."""

    kind: str
    port: int
    prefix: str
    models: tuple[str, ...] = field(default_factory=tuple)

    @property
    def api_base(self) -> str:
        root = f"http://{HOST}:{self.port}"
        return root if self.kind == "ollama" else f"{root}/v1"

    @property
    def model(self) -> str | None:
        """The LiteLLM model string for the first model it serves."""
        return f"{self.prefix}{self.models[0]}" if self.models else None


def parse_models(kind: str, payload: dict) -> tuple[str, ...]:
    """Model names from an Ollama `/api/tags` or an OpenAI-style `/v1/models` reply."""
    if kind == "ollama":
        return tuple(str(m.get("name") or m.get("model")) for m in payload.get("models") or [])
    return tuple(str(m.get("id")) for m in payload.get("data") or [] if m.get("id"))


def probe(
    kind: str, port: int, path: str, prefix: str, timeout: float = PROBE_TIMEOUT
) -> FoundServer | None:
    """The server on `port` if it answers `path` with JSON, else None."""
    url = f"http://{HOST}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            payload = json.loads(response.read(1_000_000) or b"{}")
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    return FoundServer(kind, port, prefix, parse_models(kind, payload))


def discover(
    servers: tuple[tuple[str, int, str, str], ...] | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> list[FoundServer]:
    """Every known server answering on this machine, in `servers` order (all probed at once)."""
    servers = KNOWN_SERVERS if servers is None else servers
    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        results = list(pool.map(lambda s: probe(*s, timeout=timeout), servers))
    return [r for r in results if r is not None]
