"""Whether a configuration's model requests stay on this machine or a private network: a
subagent definition may name its own model only when they do (claw_nb.subagents.definitions)."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

EMBEDDED_OR_LOCAL = "auto"  # config.DEFAULT_MODEL: a local server, else the embedded model
OPENAI_COMPATIBLE_PREFIXES = ("openai/", "hosted_vllm/", "lm_studio/", "llamacpp/")


def stays_local(config: Any) -> bool:
    """Whether requests for `config.model` go to this machine or a private network: the
    embedded model (`auto`, `local/`), Ollama at a private address and not one of its cloud
    models, or an OpenAI-compatible model behind a private `api_base`. Other LiteLLM providers
    may ignore `api_base` (SageMaker builds its own URL), so they never count as local."""
    model = config.model
    if model == EMBEDDED_OR_LOCAL or model.startswith("local/"):
        return config.api_base is None or _private_url(config.api_base)
    if config.is_ollama:
        tag = model.rsplit(":", 1)[-1].lower() if ":" in model else ""
        cloud = tag == "cloud" or tag.endswith("-cloud")  # served by ollama.com through the daemon
        return not cloud and _private_url(config.effective_api_base or "")
    return (
        model.startswith(OPENAI_COMPATIBLE_PREFIXES)
        and config.api_base is not None
        and _private_url(config.api_base)
    )


_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def _private_url(url: str) -> bool:
    """A loopback, RFC 1918, link-local or unique-local address, or localhost; a name that
    could resolve anywhere is not."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url  # `localhost:8080/v1` is accepted by the model paths
    host = (urlsplit(url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _PRIVATE_NETWORKS)
