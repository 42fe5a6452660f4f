"""Which path a model call takes: LiteLLM (every provider) or direct HTTP (OpenAI-compatible).

Chosen here and nowhere else. With `model_backend = "auto"` (the default) a model string with
an OpenAI-compatible prefix (`openai/`, `hosted_vllm/`, ...) and an `api_base` goes direct: that
is a local server (llama.cpp, vLLM, LM Studio, the scripted test server) or an OpenAI-compatible
proxy (unless the environment sends that host through an HTTP proxy: LiteLLM honours proxies,
the direct path does not). Everything else, Ollama included (its `num_ctx` needs Ollama's own API), goes through
LiteLLM. `model_backend = "litellm"` or `"direct"` forces a path.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from claw_nb.config import ClawConfig
from claw_nb.errors import ConfigError
from claw_nb.locality import OPENAI_COMPATIBLE_PREFIXES
from claw_nb.model.retries import RetryingModel

_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def choose_backend(config: ClawConfig) -> str:
    """ "litellm" or "direct" for this configuration (raises ConfigError for a forced misfit)."""
    wanted = getattr(config, "model_backend", "auto") or "auto"
    if wanted == "litellm":
        return "litellm"
    direct_ok = bool(config.api_base) and config.model.startswith(OPENAI_COMPATIBLE_PREFIXES)
    if wanted == "direct":
        if not config.api_base:
            raise ConfigError(
                "model_backend = 'direct' needs api_base (the server's URL, e.g. "
                "http://localhost:8080/v1); set it, or use model_backend = 'auto'"
            )
        if config.is_ollama:
            raise ConfigError(
                "model_backend = 'direct' cannot pass num_ctx to Ollama (only its own API takes "
                "it); use model_backend = 'auto', or an openai/ model string with Ollama's /v1"
            )
        return "direct"
    return "direct" if direct_ok and not _behind_a_proxy(config.api_base or "") else "litellm"


def _behind_a_proxy(url: str) -> bool:
    """Whether the environment routes `url` through an HTTP proxy (the direct path speaks to
    servers directly; LiteLLM's httpx honours the proxy settings)."""
    host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    if host in _LOOPBACK or host.endswith(".localhost"):
        return False
    proxies = [
        os.environ.get(k)
        for k in (
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "https_proxy",
            "http_proxy",
            "all_proxy",
        )
    ]
    if not any(proxies):
        return False
    no_proxy = (os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "").lower()
    for entry in (e.strip().lstrip(".") for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return False
    return True


def make_model(config: ClawConfig) -> RetryingModel:
    """The model object for `config`, on the path `choose_backend` picks."""
    if choose_backend(config) == "direct":
        from claw_nb.model.openai_compat import OpenAICompatModel

        return OpenAICompatModel(config)
    from claw_nb.model.litellm_model import LiteLLMModel

    return LiteLLMModel(config)
