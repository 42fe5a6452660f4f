"""Finding local model servers: real HTTP servers on loopback ports, probed concurrently."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from claw_nb.config import load_config
from claw_nb.model import discovery
from claw_nb.model.resolve import resolve_config


def _serve(payloads: dict[str, object]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            body = json.dumps(payloads.get(self.path, {})).encode()
            self.send_response(200 if self.path in payloads else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ollama_like():
    server = _serve({"/api/tags": {"models": [{"name": "qwen3:8b"}, {"name": "llama3:8b"}]}})
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def openai_like():
    server = _serve({"/v1/models": {"object": "list", "data": [{"id": "smol"}]}})
    yield server.server_address[1]
    server.shutdown()


def test_finds_ollama_and_openai_servers_with_their_models(ollama_like, openai_like):
    servers = (
        ("ollama", ollama_like, "/api/tags", "ollama_chat/"),
        ("llama.cpp", openai_like, "/v1/models", "openai/"),
        ("vllm", _closed_port(), "/v1/models", "hosted_vllm/"),
    )
    found = discovery.discover(servers)
    assert [s.kind for s in found] == ["ollama", "llama.cpp"]
    assert found[0].model == "ollama_chat/qwen3:8b"
    assert found[0].api_base == f"http://127.0.0.1:{ollama_like}"
    assert found[1].model == "openai/smol"
    assert found[1].api_base == f"http://127.0.0.1:{openai_like}/v1"


def test_a_server_answering_something_else_is_not_a_model_server(openai_like):
    servers = (("ollama", openai_like, "/api/tags", "ollama_chat/"),)  # 404 on /api/tags
    assert discovery.discover(servers) == []


def test_auto_resolves_to_the_first_server_found(openai_like, monkeypatch, tmp_path):
    monkeypatch.delenv("CLAW_MODEL", raising=False)
    monkeypatch.delenv("CLAW_API_BASE", raising=False)
    monkeypatch.setattr(
        discovery, "KNOWN_SERVERS", (("llama.cpp", openai_like, "/v1/models", "openai/"),)
    )
    said: list[str] = []
    config = resolve_config(load_config(tmp_path), say=said.append)
    assert config.model == "openai/smol"
    assert config.api_base == f"http://127.0.0.1:{openai_like}/v1"
    assert config.api_key  # LiteLLM's openai/ route wants some key
    assert said and "llama.cpp" in said[0]


def test_a_named_model_is_left_alone(tmp_path):
    config = load_config(tmp_path, model="openai/mine", api_base="http://127.0.0.1:1/v1")
    assert resolve_config(config, say=None) == config


def test_a_resolution_notice_is_said_once_per_process(capsys, monkeypatch):
    """A lab run resolves the model once per trial: the user reads the notice once."""
    from claw_nb.model import resolve

    monkeypatch.setattr(resolve, "_told", set())
    for _ in range(3):
        resolve._stderr("no model server found; using the embedded SmolLM2-135M")
    resolve._stderr("another notice")
    assert capsys.readouterr().err == (
        "claw: no model server found; using the embedded SmolLM2-135M\nclaw: another notice\n"
    )
