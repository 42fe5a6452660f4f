"""The one wiring of an agent: sandbox, permission policy and log, the same for every shell.

`create_agent` and `resume` are the library API (`claw_nb.create_agent(...)`); the CLI, the
notebook magics and the lab all go through `build_agent`, so a setting means the same thing
everywhere. The defaults are the safe ones: bubblewrap when usable, mode `ask` with an approver
that denies, the DuckDB log on. A script opts in to more. The workspace's hooks (commands from
`.claw/settings.toml` or `.claude/settings.json`) are loaded here too; only those the user
approved run (`claw-nb hooks approve`), as only approved MCP servers start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from claw_nb.agent import Agent
from claw_nb.config import ClawConfig, load_config
from claw_nb.errors import SessionNotFound
from claw_nb.permissions import PermissionPolicy, deny_all
from claw_nb.protocols import Approver, Hooks, Listener
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


def build_hooks(
    config: ClawConfig, hooks: Hooks | bool = True, approve: Any = None
) -> Hooks | None:
    """The hooks an agent gets: `True` the workspace's approved ones (`claw_nb.hooks.load_hooks`;
    `approve` asks about the others, None skips them with one line), `False` none (a lab
    trial: its folder is a task author's), or the `Hooks` given."""
    if hooks is True:
        from claw_nb.hooks import load_hooks

        return load_hooks(config, approve)
    return hooks or None


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
    checkpoints: Any = None,
    subagents: bool = True,
    mcp_servers: Any = None,
    approve_mcp: Any = None,
    client_mcp_servers: Sequence[Any] = (),
    hooks: Hooks | bool = True,
    stop: StopToken | None = None,
    approve_hooks: Any = None,
    prestart: bool = False,
    **sandbox_overrides: Any,
) -> tuple[Agent, Any]:
    """(agent, event log) wired the standard way; the caller closes the log (or the agent,
    which also stops the MCP servers it started).

    MCP servers (`claw_nb.mcp`): the workspace's start in the background while the rest is
    wired, unless the caller keeps its own (`mcp_servers`, a notebook kernel's); `approve_mcp`
    asks about servers not approved yet (None: they stay off, one line says how to approve).
    `client_mcp_servers`: `ServerSpec`s from the program running the agent (`client_server`, an
    ACP client's), started with the workspace's without approval; a workspace server of the same
    name is left out. They need the agent to start its own servers (`mcp_servers` None).

    `checkpoints`: a `claw_nb.checkpoints.Checkpoints` to keep (a rebuilt conversation keeps
    its own); by default one is made when `config.checkpoints` is on.

    `subagents` gives the agent the `task` tool (unless `[subagents] max_depth = 0`); the lab
    turns it off, so a trial measures one agent. `hooks`: True the workspace's, False none (a
    lab trial), or the `Hooks` given; closing the agent ends the session's hooks first.
    `stop`: the caller's stop token (a lab trial's); the agent stops with it.
    `approve_hooks` asks about workspace hooks not approved yet, as `approve_mcp` does.
    `prestart`: a runner made here starts its session sandbox in the background now, while
    the agent is made and the model first asked (`claw-nb run`, whose sessions run commands);
    its first command then waits ~40-100 ms less."""
    if runner is None:
        from claw_nb.sandbox import probe_soon

        probe_soon(config.settings, **sandbox_overrides)  # answered while MCP servers start
    servers, owned = _start_mcp(config, mcp_servers, approve_mcp, client_mcp_servers)
    try:
        if runner is None:  # made here, closed with the agent (its session sandbox ends)
            runner = build_runner(config, **sandbox_overrides)
            owned.append(runner)
            if prestart and _may_run_commands(tools):
                _prestart(runner)  # before the model: the sandbox starts while it is set up
        if model is None:
            config = resolve_model(config)
            model = build_model(config)
        policy = build_policy(
            config, runner, mode=mode, approver=approver, approver_name=approver_name
        )
        if log is None:
            from claw_nb.log.store import EventLog

            log = EventLog(config.resolved_db_path)
        agent = _assemble(
            config,
            hooks=build_hooks(config, hooks, approve_hooks),
            model=model,
            runner=runner,
            policy=policy,
            tools=_with_mcp_tools(tools, servers),
            listeners=[log, *listeners],
            subagents=subagents,
            session_id=session_id,
            history=history,
            resumed_from=resumed_from,
            owns=[log, *owned],
            checkpoints=checkpoints if checkpoints is not None else build_checkpoints(config),
            stop=stop,
        )
    except BaseException:
        for resource in owned:
            resource.close()
        raise
    return agent, log


def _may_run_commands(tools: Any) -> bool:
    """True for the standard tools, or given ones with a command tool among them."""
    return tools is None or any(getattr(tool, "kind", "") == "command" for tool in tools)


def _prestart(runner: Any) -> None:
    """Let a runner with a session sandbox start it while the agent is made and the model
    is asked (`BwrapRunner.prestart`); other runners have nothing to start."""
    prestart = getattr(runner, "prestart", None)
    if prestart is not None:
        prestart()


def _start_mcp(
    config: ClawConfig, servers: Any, ask: Any, client: Sequence[Any] = ()
) -> tuple[Any, list[Any]]:
    """(the MCP servers for an agent, those it owns); nothing is imported without them."""
    if servers is None and not client and not config.settings.get("mcp_servers"):
        from claw_nb.protected_paths import MCP_SERVERS_FILE  # the `.mcp.json` of mcp.specs

        if not (Path(config.workspace) / MCP_SERVERS_FILE).exists():
            return None, []
    from claw_nb.mcp import start_servers

    return start_servers(config, servers, ask, client)


def _with_mcp_tools(tools: Any, servers: Any) -> Any:
    """`tools` (default: the standard ones) plus the ready MCP servers' tools, in a new registry."""
    if servers is None:
        return tools
    from claw_nb.mcp import add_ready_tools
    from claw_nb.tools import ToolRegistry, default_tools

    registry = ToolRegistry(tools if tools is not None else default_tools())
    add_ready_tools(registry, servers)
    return registry


def _assemble(
    config: ClawConfig,
    *,
    model: Any,
    runner: Any,
    policy: Any,
    tools: Any,
    listeners: Iterable[Listener],
    subagents: bool,
    **agent_options: Any,
) -> Agent:
    """The Agent over wired parts, with its `Subagents` (the `task` tool's spawn) attached:
    children get this agent's model, runner and tools, and their calls go to the authorizer
    the parent's call runs under, so a child is never allowed more than its parent."""
    from claw_nb.tools import ToolRegistry, default_tools

    registry = ToolRegistry(list(tools if tools is not None else default_tools()))
    team = None
    if subagents and "task" not in registry:
        from claw_nb.subagents.spawn import Subagents

        team = Subagents(
            config, model=model, runner=runner, tools=registry, make_model=_child_model
        )
        if team.enabled:
            registry = ToolRegistry([*registry, team.task_tool()])
    agent = Agent(
        config,
        model=model,
        runner=runner,
        tools=registry,
        listeners=listeners,
        authorize=policy,
        **agent_options,
    )
    if team is not None:
        team.attach(agent)
    return agent


def _child_model(config: ClawConfig) -> tuple[ClawConfig, Any]:
    """A subagent's own model (an agent definition's `model`), resolved like the parent's."""
    config = resolve_model(config)
    return config, build_model(config)


def build_checkpoints(config: ClawConfig, live: Any = None) -> Any:
    """The checkpoint recorder for `config`'s workspace, stored beside its log's journals;
    None when `config.checkpoints` is off. `live`: a notebook's `LiveCells`."""
    if not config.checkpoints:
        return None
    from claw_nb.checkpoints import Checkpoints, CheckpointStore

    store = CheckpointStore.for_database(config.resolved_db_path)
    return Checkpoints(store, config.workspace, live=live)


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
        servers, owned = _start_mcp(config, None, None)
        runner = build_runner(config)
        owned.append(runner)  # closed with the agent: its session sandbox ends
        policy = build_policy(config, runner, mode=mode, approver=approver)
        return _assemble(
            config,
            model=build_model(config),
            runner=runner,
            policy=policy,
            tools=_with_mcp_tools(None, servers),
            listeners=listeners,
            owns=owned,
            checkpoints=build_checkpoints(config),
            subagents=True,
            hooks=build_hooks(config),
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


def continue_session(
    config: ClawConfig, session_id: str, **build_options: Any
) -> tuple[Agent, Any]:
    """(agent, event log) going on with a logged session under the same id (the exact id).

    For a client that keeps the id it was given, such as an ACP client loading a session after
    the agent process restarted; `resume` starts a new session from the old one instead."""
    full_id, messages = find_session(config.resolved_db_path, session_id)
    if full_id != session_id:
        raise SessionNotFound(f"no session {session_id!r} in {config.resolved_db_path}")
    agent, log = build_agent(config, session_id=full_id, history=messages, **build_options)
    restore_logged_state(agent, config, full_id)
    return agent, log


def restore_logged_state(agent: Agent, config: ClawConfig, session_id: str) -> None:
    """What an agent going on with logged session `session_id` under its id needs besides
    the messages: which earlier tool calls worked, and the step count (its next model call is
    numbered after the logged ones)."""
    from claw_nb.log.queries import logged_steps

    agent.context_manager.outcomes.update(_logged_outcomes(config, session_id, agent))
    agent.steps = max(agent.steps, logged_steps(config.resolved_db_path, session_id))


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
    if prefix is None:  # the latest session of the user's, not a subagent's
        top = frame[frame["parent_session_id"].isna()] if "parent_session_id" in frame else frame
        if not len(top):
            raise SessionNotFound(f"no sessions logged in {db_path} yet")
        return str(top["session_id"].iloc[0])
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
    """A concrete model for "auto" / `local/NAME`: a local server, else the embedded one; then
    its calibrated call format (`claw-nb calibrate`) for what the settings leave open."""
    from claw_nb.calibrate.profile import apply_profile
    from claw_nb.model.resolve import needs_resolution, resolve_config

    return apply_profile(resolve_config(config) if needs_resolution(config) else config)


def _approver_label(approver: Approver) -> str:
    return getattr(approver, "label", None) or "user"
