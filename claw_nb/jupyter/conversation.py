"""The conversation behind `%%claw`: which Agent runs a cell (the current one, a fresh one, a
resumed one, or one rebuilt for new settings or hook approvals), its tools, its approver, its
log and the kernel's MCP servers (`claw_nb.jupyter.mcp_magic`). A mixin of `ClawMagics`.
Hooks not approved yet are skipped with one line (`claw_nb.jupyter.hooks_magic`)."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from claw_nb.jupyter.mcp_magic import KernelMcpServers
from claw_nb.records import record


@record
class RunSpec:
    """One `%%claw` cell's run: the task and how to run it."""

    task: str
    config: Any
    mode: str | None = None
    new: bool = False
    resume: tuple[str, list[dict]] | None = None


class Conversation(KernelMcpServers):
    """Builds and keeps the kernel's Agent for ClawMagics."""

    _hooks_changed = False  # `%claw hooks approve/revoke` since the agent was built

    def _agent_for(self, spec: RunSpec) -> Any:
        """The Agent that runs `spec`: the current conversation, a fresh one or a resumed one.

        Called when the run starts (on the worker thread in widget mode), so the runs before
        it have finished with the conversation.
        """
        current = self.agent
        if spec.resume is not None and current is not None:
            if current.session_id == spec.resume[0]:
                spec = dataclasses.replace(spec, resume=None)  # the current conversation
        if current is not None and (spec.new or spec.resume is not None):
            current.end_session("clear")  # SessionEnd: this conversation is left behind
        if spec.resume is not None:
            agent = self._continue_session(spec.config, *spec.resume)
        elif spec.new or current is None:
            agent = self._build(spec.config)
        elif (
            _needs_rebuild(current.config, spec.config)
            or self._mcp_changed(spec.config)
            or self._hooks_changed
        ):
            agent = self._build(
                spec.config,
                session_id=current.session_id,
                history=current.messages,
                checkpoints=_kept_checkpoints(current, spec.config),
            )
            _carry_state(current, agent)
        else:
            agent = current
            self._add_mcp_tools(agent)  # servers approved or ready since the agent was built
        if current is not None and current is not agent:
            close_runner(current)
        self.agent = agent
        return agent

    def _continue_session(self, config: Any, session_id: str, history: list[dict]) -> Any:
        """An agent that goes on with logged session `session_id` under that same id (its
        messages, its tool outcomes, its step count): `%claw resume` and `--session`."""
        from claw_nb.api import restore_logged_state

        agent = self._build(config, session_id=session_id, history=history)
        restore_logged_state(agent, agent.config, session_id)
        return agent

    def _build(
        self,
        config: Any,
        session_id: str | None = None,
        history: list[dict] | None = None,
        checkpoints: Any = None,
    ) -> Any:
        from claw_nb.api import build_agent
        from claw_nb.errors import HookSettingsError
        from claw_nb.permissions import PermissionSettingsError

        self._hooks_changed = False  # this agent loads the hooks approved now
        log = self._log_for(config)
        from claw_nb.tools import default_tools

        registry = default_tools()
        for tool in self._notebook_tools(config):
            if tool.name not in registry:
                registry.add(tool)
        try:
            agent, _ = build_agent(
                config,
                approver=_RoutedApprover(self),
                approver_name="user",
                listeners=[self._route],
                session_id=session_id,
                history=history,
                log=log,
                tools=registry,
                checkpoints=checkpoints or self._checkpoints_for(config),
                mcp_servers=self._mcp_for(config),
            )
        except (PermissionSettingsError, HookSettingsError) as exc:
            raise UsageError(f"claw: {_one_line(exc)}") from None
        if agent.authorize is not None:
            self._base_mode = agent.authorize.mode
        return agent

    def _notebook_tools(self, config: Any = None) -> list:
        """notebook_read / notebook_edit / kernel_exec bound to this kernel; `[notebook] mode`
        in the settings file picks "disk", "live" or "auto" (the default)."""
        from claw_nb.jupyter.task_context import notebook_tools

        section = (config.settings.get("notebook") if config is not None else None) or {}
        return list(
            notebook_tools(
                self.shell, prefer=section.get("mode", "auto"), propose=self._propose_cell
            )
        )

    def _checkpoints_for(self, config: Any) -> Any:
        """The conversation's checkpoint recorder; notebooks edited live in JupyterLab are
        recorded and restored through their shared document."""
        from claw_nb.api import build_checkpoints
        from claw_nb.checkpoints.live_cells import LiveCells
        from claw_nb.tools.notebook.binding import NotebookBinding

        section = (config.settings.get("notebook") if config.settings else None) or {}
        binding = NotebookBinding(self.shell, section.get("mode", "auto"))
        return build_checkpoints(config, live=LiveCells(binding))

    def _propose_cell(self, source: str, cell_type: str) -> str | None:
        """notebook_edit's insert into the open notebook, from a widget run: the view inserts
        the cell below the %%claw cell (None: no widget runs, the tool says what to do)."""
        view = self._route.target
        propose = getattr(view, "propose_cell", None)
        return propose(source, cell_type) if propose is not None else None

    def _log_for(self, config: Any) -> Any:
        """One EventLog per kernel and database file (DuckDB lets one process hold a file)."""
        path = Path(config.resolved_db_path).resolve()
        if self._log is not None and self._log_path == path:
            return self._log
        from claw_nb.log.store import EventLog

        if self._log is not None:
            self._close_log()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # the journal is the record; DuckDB gets it after the view has shown the run's
            # end (`_ingest_log`): an ingest takes a second, which a Stop should not wait for
            self._log = EventLog(path, ingest_at_end=False)
        except Exception as exc:  # noqa: BLE001 - one line in the notebook
            raise UsageError(
                f"claw: cannot open the log {path}: {_one_line(exc)} (another kernel may hold "
                "it; choose another file with %claw config db=PATH)"
            ) from None
        self._log_path = path
        return self._log

    def _ingest_log(self) -> None:
        """Move the journal into DuckDB (after a run: the view has already said it ended)."""
        log = self._log
        if log is not None:
            log.try_ingest()

    def _close_log(self) -> None:
        log, self._log, self._log_path = self._log, None, None
        if log is not None:
            with contextlib.suppress(Exception):  # closing must not stop an unload
                log.close()
                log.try_ingest()

    def _session_id(self, config: Any, session_id: str | None) -> str:
        """A logged session's full id from a unique prefix (None: the latest session)."""
        from claw_nb.api import find_session_id
        from claw_nb.errors import SessionNotFound

        try:
            return find_session_id(config.resolved_db_path, session_id)
        except SessionNotFound as exc:
            raise UsageError(
                f"claw: {str(exc).replace('claw-nb sessions', '%claw sessions')}"
            ) from None

    def _find_session(self, config: Any, session_id: str | None) -> tuple[str, list[dict]]:
        """(id, messages) of a logged session; a unique prefix of the id is enough."""
        from claw_nb.log.store import load_messages

        session_id = self._session_id(config, session_id)
        messages = load_messages(config.resolved_db_path, session_id)
        if not messages:
            raise UsageError(
                f"claw: session {session_id} has no messages logged in {config.resolved_db_path}"
            )
        return session_id, messages


def close_runner(agent: Any) -> None:
    """The command runner of an agent the notebook leaves: its session sandbox ends now, not
    whenever the agent is collected (the notebook never closes an agent: the kernel keeps the
    log it was given)."""
    runner = getattr(getattr(agent, "context", None), "runner", None)
    close = getattr(runner, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):  # closing must not stop an unload
            close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _needs_rebuild(old: Any, new: Any) -> bool:
    """True when the settings changed more than the step limit (model, endpoint, workspace...)."""
    return dataclasses.replace(new, max_steps=old.max_steps) != old


def _kept_checkpoints(current: Any, config: Any) -> Any:
    """The current conversation's checkpoints, for an agent rebuilt to continue it (they know
    its turns); None when the rebuilt one records elsewhere or not at all."""
    kept = getattr(current, "checkpoints", None)
    same_place = (
        current.config.workspace == config.workspace
        and current.config.resolved_db_path == config.resolved_db_path
    )
    return kept if kept is not None and same_place and config.checkpoints else None


def _carry_state(old: Any, new: Any) -> None:
    """Move what the conversation learned into a rebuilt Agent (new model or settings)."""
    new.steps = old.steps
    new.context.todos = old.context.todos
    new.context.read_files = old.context.read_files
    new.hook_points.state = old.hook_points.state  # the same session: no second SessionStart
    if old.authorize is not None and new.authorize is not None:
        for rule in old.authorize.rules:
            if rule not in new.authorize.rules:
                new.authorize.rules.append(rule)


class _RoutedApprover:
    """The agent's approver in a kernel: whichever view runs now answers, and is named."""

    def __init__(self, magics: Any) -> None:
        self._magics = magics

    def __call__(self, request: Any) -> str:
        return self._magics._approve(request)

    @property
    def current_label(self) -> str | None:
        view = self._magics._route.target
        return getattr(view, "approver_label", None) if view is not None else None
