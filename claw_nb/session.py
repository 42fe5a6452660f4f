"""Assembling an agent from a config: runner, permissions and the log, the same for every shell.

The CLI and the notebook magics both call `build_agent`, so a setting means the same thing in a
terminal and in a notebook.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from claw_nb.agent import Agent
from claw_nb.config import ClawConfig
from claw_nb.events import Listener
from claw_nb.permissions import Approver, PermissionPolicy, deny_all


def build_runner(config: ClawConfig, **sandbox_overrides: Any):
    """The command runner the settings ask for: bubblewrap when usable, else plain."""
    from claw_nb.sandbox import SandboxSettings, make_runner

    settings = SandboxSettings.from_settings(config.settings, **sandbox_overrides)
    return make_runner(settings, config.workspace)


def build_agent(
    config: ClawConfig,
    *,
    mode: str | None = None,
    approver: Approver = deny_all,
    approver_name: str | None = None,
    listeners: Iterable[Listener] = (),
    session_id: str | None = None,
    history: list[dict[str, Any]] | None = None,
    log: Any = None,
    runner: Any = None,
    tools: Any = None,
    **sandbox_overrides: Any,
):
    """(agent, event log) wired the standard way; the caller closes the log."""
    from claw_nb.store import EventLog

    runner = runner or build_runner(config, **sandbox_overrides)
    policy = PermissionPolicy.from_settings(
        config.settings,
        mode=mode,
        approver=approver,
        approver_name=approver_name or _approver_label(approver),
        sandboxed=bool(getattr(runner, "sandboxed", False)),
        workspace=str(config.workspace),
    )
    log = log if log is not None else EventLog(config.resolved_db_path)
    agent = Agent(
        config,
        runner=runner,
        tools=tools,
        listeners=[log, *listeners],
        authorize=policy,
        session_id=session_id,
        history=history,
    )
    return agent, log


def _approver_label(approver: Approver) -> str:
    return getattr(approver, "label", None) or "user"
