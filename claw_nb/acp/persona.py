"""`@claw` in JupyterLab's chat: a Jupyter AI 3 persona that runs `claw-nb acp`.

Jupyter AI finds personas through the `jupyter_ai.personas` entry point group (pyproject.toml);
`jupyter-ai-acp-client`'s `BaseAcpPersona` starts the executable, speaks ACP to it and shows
its text, tool calls, diffs and permission buttons in the chat. The agent is claw's own, on the
model the environment configures (CLAW_MODEL and friends, or the workspace's settings file), in
the chat's directory. Installed without Jupyter AI's ACP client, the persona says what to
install instead of failing (`PersonaRequirementsUnmet`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jupyter_ai_persona_manager import PersonaDefaults, PersonaRequirementsUnmet

try:
    from jupyter_ai_acp_client.base_acp_persona import BaseAcpPersona
except ImportError as exc:  # jupyter-ai without its ACP client, or without the SDK
    raise PersonaRequirementsUnmet(
        "the claw persona needs jupyter-ai-acp-client: pip install -e '.[jupyter-ai]'"
    ) from exc

AVATAR = Path(__file__).with_name("claw.svg")


def claw_command() -> list[str]:
    """`claw-nb acp` from this Python environment (the server's), whatever PATH says."""
    script = Path(sys.executable).with_name("claw-nb")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), "acp"]
    return [sys.executable, "-m", "claw_nb", "acp"]


class ClawAcpPersona(BaseAcpPersona):
    """claw_nb's agent as a chat persona, mentioned as `@claw`."""

    # BaseAcpPersona tells agents to edit notebooks with Jupyter's MCP tools. claw connects to
    # the MCP servers Jupyter AI passes, but those tools are among them only when
    # jupyter-server-mcp is installed and running: say nothing rather than point the model at
    # tools it may not have (claw's own notebook tools edit .ipynb files).
    NOTEBOOK_EDITING_GUIDANCE = ""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, executable=claw_command(), **kwargs)

    @property
    def defaults(self) -> PersonaDefaults:
        return PersonaDefaults(
            name="claw",
            description="claw_nb: a local-model-first coding agent, sandboxed, logged to DuckDB.",
            avatar_path=str(AVATAR),
            system_prompt="unused: claw_nb uses its own system prompt",
        )
