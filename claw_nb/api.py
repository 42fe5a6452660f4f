"""The one wiring of an agent: sandbox, permission policy and log, the same for every shell.

`create_agent` and `resume` are the library API (`claw_nb.create_agent(...)`); the CLI, the
notebook magics and the lab all go through `build_agent`, so a setting means the same thing
everywhere. The defaults are the safe ones: bubblewrap when usable, mode `ask` with an approver
that denies, the DuckDB log on. A script opts in to more.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from claw_nb.agent import Agent
from claw_nb.config import ClawConfig, load_config
from claw_nb.errors import SessionNotFound
from claw_nb.permissions import PermissionPolicy, deny_all
from claw_nb.protocols import Approver, Listener
from claw_nb.stop import StopToken


def build_model(config: ClawConfig):
    """The model adapter for `config.model` (resolve "auto" first: `resolve_model`)."""
    from claw_nb.model import make_model

    return make_model(config)


def build_runner(config: ClawConfig, **sandbox_overrides: Any):
    """The command runner the settings ask for: bubblewrap when usable, else plain."""
    from claw_nb.sandbox import SandboxSettings, make_runner

    settings = SandboxSettings.from_settings(config.settings, **sandbox_overrides)
    return make_runner(settings, config.workspace)


def build_policy(
    config: ClawConfig,
    runner: Any,
    *,
    mode: str | None = None,
    approver: Approver = deny_all,
    approver_name: str | None = None,
) -> PermissionPolicy:
    """The permission policy from `[permissions]`, knowing whether commands are sandboxed."""
    return PermissionPolicy.from_settings(
        config.settings,
        mode=mode,
        approver=approver,
        approver_name=approver_name or _approver_label(approver),
        sandboxed=bool(getattr(runner, "sandboxed", False)),
        workspace=str(config.workspace),
    )


def build_agent(
    config: ClawConfig,
    *,
    mode: str | None = None,
    approver: Approver = deny_all,
    approver_name: str | None = None,
    listeners: Iterable[Listener] = (),
    session_id: str | None = None,
    history: list[dict[str, Any]] | None = None,
    resumed_from: str | None = None,
    log: Any = None,
    runner: Any = None,
    tools: Any = None,
    model: Any = None,
    stop: StopToken | None = None,
    **sandbox_overrides: Any,
) -> tuple[Agent, Any]:
    """(agent, event log) wired the standard way; the caller closes the log.

    `stop`: the caller's token (a lab trial's); the agent's own `agent.stop` is its child."""
    from claw_nb.log.store import EventLog

    if model is None:
        config = resolve_model(config)
        model = build_model(config)
    runner = runner or build_runner(config, **sandbox_overrides)
    policy = build_policy(config, runner, mode=mode, approver=approver, approver_name=approver_name)
    log = log if log is not None else EventLog(config.resolved_db_path)
    agent = Agent(
        config,
        model=model,
        runner=runner,
        tools=tools,
        listeners=[log, *listeners],
        authorize=policy,
        session_id=session_id,
        history=history,
        resumed_from=resumed_from,
        owns=[log],
        stop=stop,
    )
    return agent, log


def create_agent(
    workspace: str | Path | None = None,
    *,
    model: str | None = None,
    mode: str | None = None,
    approver: Approver = deny_all,
    listeners: Iterable[Listener] = (),
    log: bool = True,
    **options: Any,
) -> Agent:
    """An agent for a script or a notebook cell, wired safely; use it as a context manager.

    `options` are any `ClawConfig` settings (`max_steps`, `api_base`, `db_path`, ...). Commands
    run under bubblewrap when it is usable; every action that would ask goes to `approver`,
    which by default denies. `log=False` keeps this agent out of the DuckDB log.
    """
    config = load_config(workspace, model=model, **options)
    if not log:
        config = resolve_model(config)
        runner = build_runner(config)
        policy = build_policy(config, runner, mode=mode, approver=approver)
        return Agent(
            config,
            model=build_model(config),
            runner=runner,
            authorize=policy,
            listeners=listeners,
        )
    agent, _ = build_agent(config, mode=mode, approver=approver, listeners=listeners)
    return agent


def resume(
    session_id: str | None = None,
    workspace: str | Path | None = None,
    *,
    mode: str | None = None,
    approver: Approver = deny_all,
    listeners: Iterable[Listener] = (),
    **options: Any,
) -> Agent:
    """An agent that continues a logged session (a unique id prefix; None: the latest)."""
    config = load_config(workspace, **options)
    full_id, messages = find_session(config.resolved_db_path, session_id)
    agent, _ = build_agent(
        config,
        mode=mode,
        approver=approver,
        listeners=listeners,
        history=messages,
        resumed_from=full_id,
    )
    agent.context_manager.outcomes.update(_logged_outcomes(config, full_id, agent))
    return agent


def _logged_outcomes(config: ClawConfig, session_id: str, agent: Agent) -> dict[str, Any]:
    """The resumed history's tool outcomes, from the log's tool_calls rows."""
    from claw_nb.log.queries import load_tool_outcomes
    from claw_nb.outcomes import ErrorKind, ToolOutcome

    kinds = {tool.name: tool.kind for tool in agent.tools}
    outcomes = {}
    for call_id, (tool, ok, kind) in load_tool_outcomes(
        config.resolved_db_path, session_id
    ).items():
        try:
            error = None if ok or kind is None else ErrorKind(kind)
        except ValueError:  # a kind an older claw_nb logged
            error = ErrorKind.TOOL_ERROR
        outcomes[call_id] = ToolOutcome(ok, "", error, kinds.get(tool, ""))
    return outcomes


def find_session_id(db_path: str | Path, prefix: str | None) -> str:
    """A logged session's full id from a unique prefix (None: the latest session)."""
    from claw_nb.log.store import list_sessions

    frame = list_sessions(db_path)
    ids = [str(x) for x in frame["session_id"]] if len(frame) else []
    if prefix is None:
        if not ids:
            raise SessionNotFound(f"no sessions logged in {db_path} yet")
        return ids[0]
    if prefix in ids:
        return prefix
    matches = [x for x in ids if x.startswith(prefix)]
    if len(matches) > 1:
        raise SessionNotFound(f"session id {prefix!r} is ambiguous: {', '.join(matches[:5])}")
    if not matches:
        raise SessionNotFound(f"no session {prefix!r} in {db_path}; `claw-nb sessions` lists them")
    return matches[0]


def find_session(db_path: str | Path, prefix: str | None) -> tuple[str, list[dict[str, Any]]]:
    """(full id, messages) of a logged session, ready to resume."""
    from claw_nb.log.store import load_messages

    session_id = find_session_id(db_path, prefix)
    messages = load_messages(db_path, session_id)
    if not messages:
        raise SessionNotFound(f"session {session_id} has no messages logged in {db_path}")
    return session_id, messages


def resolve_model(config: ClawConfig) -> ClawConfig:
    """A concrete model for "auto" / `local/NAME`: a local server, else the embedded one."""
    from claw_nb.model.resolve import needs_resolution, resolve_config

    return resolve_config(config) if needs_resolution(config) else config


def _approver_label(approver: Approver) -> str:
    return getattr(approver, "label", None) or "user"
