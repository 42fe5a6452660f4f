"""Loading the tokenizer a count uses, without importing LiteLLM: tiktoken's `cl100k_base`
(offline, from the copy LiteLLM ships), a `tokenizer.json` or Hugging Face id through the
`tokenizers` library, or a GGUF file's own vocabulary (and chat template): through the
llama.cpp server claw_nb started for that file when it can answer (xllamacpp's: its
`server_tokens`), else through llama-cpp-python. Each is loaded once per process; a tokenizer
that cannot load falls back to tiktoken, then to an estimate.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claw_nb.context.server_tokens import ServerTokenizer
from claw_nb.untrusted import read_regular_file

MAX_TOKENIZER_BYTES = 64 << 20
DEFAULT_ENCODING = "cl100k_base"
GGUF_LABEL = "tokenizer of GGUF"
CL100K_CACHE_KEY = (
    "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"  # sha1 of the file's URL: tiktoken's key
)

Encoder = Callable[[str], int]
_encoders: dict[str, tuple[Encoder, str]] = {}
_encoders_lock = threading.Lock()
# GGUF file (real path) -> the llama.cpp server claw_nb runs for it that counts (xllamacpp's)
_count_servers: dict[str, ServerTokenizer] = {}


def _gguf_key(name: str | Path) -> str:
    return os.path.realpath(Path(name).expanduser())


def count_through_server(gguf: str | Path, base_url: str) -> None:
    """Count the tokens of this GGUF file through the llama.cpp server at `base_url` (one
    claw_nb started on 127.0.0.1 for it, whose `/apply-template` and `/tokenize` give the
    server's own figures), from now on, in counters made before too."""
    _count_servers[_gguf_key(gguf)] = ServerTokenizer(base_url)


def stop_counting_through(gguf: str | Path, base_url: str) -> None:
    """The server at `base_url` stopped: count this GGUF file without it again."""
    key = _gguf_key(gguf)
    server = _count_servers.get(key)
    if server is not None and server.base_url == base_url.rstrip("/"):
        del _count_servers[key]


def is_loaded(name: str | None) -> bool:
    """Whether the tokenizer of this setting is loaded already (counting costs no load)."""
    return (name or "") in _encoders


def encoder(name: str | None = None) -> tuple[Encoder, str]:
    """(count function, description) for a tokenizer setting; tiktoken's when it cannot load."""
    key = name or ""
    with _encoders_lock:
        if key not in _encoders:
            _encoders[key] = _load_encoder(name)
        return _encoders[key]


def _load_encoder(name: str | None) -> tuple[Encoder, str]:
    if name and name.lower().endswith(".gguf"):
        try:
            return _gguf_encoder(Path(name).expanduser())
        except Exception as exc:  # noqa: BLE001 - no llama-cpp-python, unreadable file: fall back
            warnings.warn(
                f"claw_nb: cannot load the tokenizer of {name!r} ({exc}); counting with tiktoken",
                stacklevel=3,
            )
    elif name:
        try:
            from tokenizers import Tokenizer

            path = Path(name).expanduser()
            if path.is_file():  # a regular file, not a link or FIFO swapped in since settings
                data = read_regular_file(os.path.realpath(path), max_bytes=MAX_TOKENIZER_BYTES)
                if data is None:
                    raise OSError(f"{path} is not a regular file")
                tok = Tokenizer.from_str(data.decode("utf-8"))
            else:
                tok = Tokenizer.from_pretrained(name)
            label = f"tokenizer {path.name if path.is_file() else name}"
            return (lambda text: len(tok.encode(text, add_special_tokens=False).ids)), label
        except Exception as exc:  # noqa: BLE001 - offline, missing file, bad JSON: fall back
            warnings.warn(
                f"claw_nb: cannot load tokenizer {name!r} ({exc}); counting with tiktoken",
                stacklevel=3,
            )
    try:
        _use_bundled_tiktoken_files()
        import tiktoken

        encoding = tiktoken.get_encoding(DEFAULT_ENCODING)
        return (
            lambda text: len(encoding.encode(text, disallowed_special=()))
        ), f"tiktoken {encoding.name}"
    except Exception:  # noqa: BLE001 - no tiktoken or no encoding file offline: estimate
        return (lambda text: len(text) // 3 + 1), "estimate (3 characters a token)"


def _gguf_encoder(path: Path) -> tuple[Encoder, str]:
    """The vocabulary of a GGUF model file, the tokenizer a llama.cpp server counts with, so
    counts match the server's: through the server claw_nb runs for the file while there is
    one (`count_through_server`), else through llama-cpp-python (loaded when first needed)."""
    if not path.is_file():
        raise FileNotFoundError(path)
    key = _gguf_key(path)
    local: list[Encoder] = []
    if key not in _count_servers:  # no server to ask: llama-cpp-python must load it (or raise)
        local.append(_vocabulary_encoder(path))

    def count(text: str) -> int:
        server = _count_servers.get(key)
        if server is not None:
            return server.count(text)
        if not local:
            local.append(_vocabulary_encoder(path))
        return local[0](text)

    through = " (through its llama.cpp server)" if not local else ""
    return count, f"{GGUF_LABEL} {path.name}{through}"


def _vocabulary_encoder(path: Path) -> Encoder:
    """A GGUF file's vocabulary through llama-cpp-python (raises without it)."""
    vocab, lock = _vocabulary(path)

    def count(text: str) -> int:
        with lock:
            return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    return count


Renderer = Callable[[list[dict[str, Any]]], str]
_renderers: dict[str, Renderer | None] = {}
# GGUF path -> its llama_cpp.Llama(vocab_only=True), and the lock its one context is used under
_vocabularies: dict[str, tuple[Any, threading.Lock]] = {}
_vocabularies_lock = threading.Lock()  # not _encoders_lock: loading an encoder takes that one


def _vocabulary(path: Path) -> tuple[Any, threading.Lock]:
    """The GGUF file's vocabulary loaded once through llama-cpp-python (weights are not)."""
    with _vocabularies_lock:
        if str(path) not in _vocabularies:
            import llama_cpp

            # llama.cpp logs a context warning through sys.stderr even with verbose=False: keep
            # it out of the user's notebook (it would show as a red stream under the cell).
            with contextlib.redirect_stderr(io.StringIO()):
                vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
            _vocabularies[str(path)] = (vocab, threading.Lock())
        return _vocabularies[str(path)]


def prompt_tokens(name: str, messages: list[dict[str, Any]]) -> int:
    """Tokens of the prompt a llama.cpp server serving the GGUF file `name` builds from
    `messages` with the file's own chat template (no `tools`): its own figure from the server
    claw_nb runs for the file, else the template rendered as llama-cpp-python's server renders
    it and counted with the vocabulary. Raises when neither is available."""
    server = _count_servers.get(_gguf_key(name))
    if server is not None:
        return server.prompt_tokens(messages)
    render = renderer(name)
    if render is None:
        raise LookupError(f"no chat template to render with for {name}")
    return encoder(name)[0](render(messages))


def renderer(name: str) -> Renderer | None:
    """The prompt a llama-cpp-python server builds from messages with the GGUF's own chat
    template (its `Jinja2ChatFormatter`, the class the server uses); None when unavailable."""
    if name not in _renderers:
        loaded = _load_renderer(Path(name).expanduser())
        with _encoders_lock:
            _renderers.setdefault(name, loaded)
    return _renderers[name]


def _load_renderer(path: Path) -> Renderer | None:
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        vocab, _lock = _vocabulary(path)
        template = vocab.metadata.get("tokenizer.chat_template")
        if not isinstance(template, str):
            return None

        def text_of(token: int) -> str:  # as llama_cpp.Llama does for the server
            return vocab._model.token_get_text(token) if token != -1 else ""

        formatter = Jinja2ChatFormatter(
            template, text_of(vocab.token_eos()), text_of(vocab.token_bos())
        )
    except Exception:  # noqa: BLE001 - no llama-cpp-python or jinja2, unreadable file
        return None
    return lambda messages: formatter(messages=messages).prompt


def _use_bundled_tiktoken_files() -> None:
    """Put the encoding file LiteLLM ships where tiktoken's default cache looks for it, so
    nothing is downloaded (and no environment variable of the process is changed)."""
    if os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR"):
        return  # the user's (or LiteLLM's) choice of cache
    cache = Path(tempfile.gettempdir()) / "data-gym-cache" / CL100K_CACHE_KEY
    if cache.is_file():
        return
    spec = importlib.util.find_spec("litellm")  # finds the folder without importing LiteLLM
    for folder in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(folder) / "litellm_core_utils" / "tokenizers" / CL100K_CACHE_KEY
        if bundled.is_file():
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            shutil.copyfile(bundled, partial)
            os.replace(partial, cache)
            return
