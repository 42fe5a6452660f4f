"""`%claw SUBCOMMAND`: config, model, sessions, log, resume, new, stop, status, compact, tools,
rules, mcp, hooks, help. A mixin of `ClawMagics`, which gives it the settings (`config_for`), the conversation
(`agent`) and the run queue."""

from __future__ import annotations

import dataclasses
import difflib
import shlex
import textwrap
from typing import Any

from IPython.core.error import UsageError
from traitlets import Bool, Int

from claw_nb.jupyter.conversation import close_runner
from claw_nb.jupyter.options import NO_ARGUMENTS, SUBCOMMANDS, TRAIT_SETTINGS, help_text

LOG_SQL = """
SELECT created_at, step, 'model' AS kind, model AS name,
       NULL AS arguments, error IS NULL AS ok, latency_ms AS ms,
       prompt_tokens, completion_tokens, coalesce(error, finish_reason) AS detail,
       NULL AS result
FROM llm_calls WHERE session_id = ?
UNION ALL
SELECT created_at, step, 'tool', tool, raw_arguments, ok, duration_ms, NULL, NULL,
       coalesce(decision, error_kind), coalesce(error, result)
FROM tool_calls WHERE session_id = ?
ORDER BY created_at, step, kind
"""


class Subcommands:
    """The `%claw SUBCOMMAND` half of ClawMagics."""

    def _line(self, line: str) -> Any:
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        if not words:
            print(help_text())
            return None
        command, rest = words[0], words[1:]
        if command in ("-h", "--help"):
            command = "help"
        if command in SUBCOMMANDS:
            if command in NO_ARGUMENTS and rest:
                raise UsageError(f"%claw {command} takes no arguments (a task goes in %%claw)")
            return getattr(self, "_cmd_" + command)(rest)
        # IPython refuses a %%claw cell with an empty body, so a one-line task is `%claw TASK`.
        near = difflib.get_close_matches(command, SUBCOMMANDS, n=1, cutoff=0.75)
        if command.startswith("-") or (len(words) > 1 and not near):
            return self._task(line, "")
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise UsageError(
            f"%claw: unknown subcommand {command!r}{hint}; subcommands: {', '.join(SUBCOMMANDS)}. "
            "A task goes in a %%claw cell, or `%claw` with several words"
        )

    def _cmd_help(self, rest: list[str]) -> None:
        print(help_text())

    def _cmd_config(self, rest: list[str]) -> None:
        if not rest:
            self._show_config()
            return
        from claw_nb.config import ClawConfig

        known = {f.name for f in dataclasses.fields(ClawConfig)} - {
            "workspace",
            "db_path",
            "settings",
        }
        changes = []
        for word in rest:
            key, eq, value = word.partition("=")
            key = key.strip().replace("-", "_")
            if not eq:
                raise UsageError(f"%claw config: write KEY=VALUE, got {word!r}")
            if key not in TRAIT_SETTINGS and key not in known:
                raise UsageError(
                    f"%claw config: unknown setting {key!r}; known: "
                    f"{', '.join(sorted(set(TRAIT_SETTINGS) | known))}"
                )
            changes.append((key, value.strip()))
        for key, value in changes:
            self._set(key, value)
        self._show_config()

    def _set(self, key: str, value: str) -> None:
        from claw_nb.config import ClawConfig, ConfigError

        reset = value == ""
        if key in TRAIT_SETTINGS:
            trait = self.traits()[key]
            if reset:
                setattr(self, key, trait.default_value)
                return
            try:
                if isinstance(trait, Bool):
                    parsed: Any = _parse_bool(key, value)
                elif isinstance(trait, Int):
                    parsed = ClawConfig().with_options(**{key: value}).max_steps
                else:
                    parsed = value
                setattr(self, key, parsed)
            except ConfigError as exc:
                raise UsageError(f"%claw config: {_one_line(exc)}") from None
            return
        options = dict(self.options)
        if reset:
            options.pop(key, None)
        else:
            try:
                ClawConfig().with_options(**{key: value})
            except ConfigError as exc:
                raise UsageError(f"%claw config: {_one_line(exc)}") from None
            options[key] = value
        self.options = options

    def _show_config(self) -> None:
        config = self.config_for()
        mode = self.mode or _settings_mode(config)
        key = config.api_key
        shown_key = None if not key else (key[:3] + "..." if len(key) > 6 else "***")
        from claw_nb.model.resolve import needs_resolution, resolution

        unset_base = "(the model's)" if needs_resolution(config) else "(LiteLLM default)"
        rows = [
            ("model", resolution(config.model)),
            ("api_base", config.effective_api_base or unset_base),
            ("api_key", shown_key or "(none)"),
            ("mode", mode),
            ("max_steps", config.max_steps),
            ("stream", config.stream),
            ("ui", self.ui),
            ("quiet", self.quiet),
            ("workspace", config.workspace),
            ("db", config.resolved_db_path),
            ("sandbox", _sandbox_line(self.agent, config)),
            ("notebook", _notebook_line(self.shell, config)),
        ]
        rows += [(k, getattr(config, k, v)) for k, v in sorted(self.options.items())]
        width = max(len(k) for k, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")

    def _cmd_model(self, rest: list[str]) -> Any:
        if rest == ["--list"]:
            return model_listing(self.config_for())
        if len(rest) > 1:
            raise UsageError(
                "%claw model: give one model name, e.g. ollama_chat/qwen3-coder:30b, or --list"
            )
        if rest:
            self.model = rest[0]
        print(self.config_for().model)
        return None

    def _cmd_sessions(self, rest: list[str]) -> Any:
        """Logged sessions, newest first: a few readable columns (`--all` for every one)."""
        from claw_nb.jupyter.tables import readable_sessions
        from claw_nb.log.store import list_sessions

        everything = "--all" in rest
        limit = _parse_limit([w for w in rest if w != "--all"], "sessions")
        config = self.config_for()
        frame = list_sessions(config.resolved_db_path)
        frame = frame if everything else readable_sessions(frame)
        return frame if limit is None else frame.head(limit)

    def _cmd_log(self, rest: list[str]) -> Any:
        """The session's model and tool calls in order (default: this conversation's)."""
        everything = "--all" in rest
        rest = [w for w in rest if w != "--all"]
        if len(rest) > 1:
            raise UsageError("%claw log: give at most one session id (and --all for every column)")
        from claw_nb.jupyter.tables import readable_log
        from claw_nb.log.store import connect

        config = self.config_for()
        wanted = rest[0] if rest else (self.agent.session_id if self.agent else None)
        session_id = self._session_id(config, wanted)
        con = connect(config.resolved_db_path, read_only=True)
        try:
            frame = con.execute(LOG_SQL, [session_id, session_id]).df()
        finally:
            con.close()
        return frame if everything else readable_log(frame)

    def _cmd_resume(self, rest: list[str]) -> None:
        if len(rest) > 1:
            raise UsageError("%claw resume: give at most one session id")
        if self._busy():
            raise UsageError("claw: a run is still going; wait for it or %claw stop first")
        config = self.config_for()
        session_id, messages = self._find_session(config, rest[0] if rest else None)
        if self.agent is not None and self.agent.session_id == session_id:
            print(f"claw: session {session_id} is already the current conversation")
            return
        if self.agent is not None:
            self.agent.end_session("clear")  # SessionEnd: the conversation left behind
            close_runner(self.agent)
        self.agent = self._continue_session(config, session_id, messages)
        tasks = [m.get("content") or "" for m in messages if m.get("role") == "user"]
        last = " ".join(tasks[-1].split())[:80] if tasks else ""
        print(
            f"claw: resumed session {session_id} ({len(messages)} messages, {len(tasks)} "
            f"task{'s' if len(tasks) != 1 else ''}); the next %%claw continues it."
            + (f" Last task: {last}" if last else "")
        )

    def _cmd_new(self, rest: list[str]) -> None:
        if self.agent is not None:
            self.agent.end_session("clear")  # SessionEnd hooks of the conversation left
            close_runner(self.agent)
        self.agent = None
        print("claw: the next %%claw starts a fresh conversation")

    def _cmd_stop(self, rest: list[str]) -> None:
        running, cancelled = self.stop_runs()
        if not running and not cancelled:
            print("claw: nothing is running")
            return
        parts = ["stopping the run in progress"] if running else []
        if cancelled:
            parts.append(f"cancelled {cancelled} queued run{'s' if cancelled != 1 else ''}")
        print("claw: " + "; ".join(parts))

    def _cmd_compact(self, rest: list[str]) -> None:
        agent = self.agent
        if agent is None:
            raise UsageError("%claw compact: no conversation yet")
        if self._busy():
            raise UsageError("claw: a run is still going; compact when it has finished")
        if not hasattr(agent, "compact"):
            raise UsageError("%claw compact: this version of the agent cannot compact")
        done = agent.compact(" ".join(rest) or None)
        if done is None:
            print("claw: nothing to compact yet")
        else:
            print(
                f"claw: compacted ({done.method}): {done.tokens_before:,} -> "
                f"{done.tokens_after:,} tokens, {done.messages_before} -> "
                f"{done.messages_after} messages"
            )

    def _cmd_status(self, rest: list[str]) -> None:
        agent = self.agent
        if agent is None:
            print("claw: no conversation yet; the next %%claw starts one")
        else:
            turns = sum(1 for m in agent.messages if m.get("role") == "user")
            print(
                f"claw: session {agent.session_id} with {agent.model.name}: {turns} "
                f"task{'s' if turns != 1 else ''}, {agent.steps} model calls"
            )
        if self._busy():
            print("claw: a run is in progress (%claw stop stops it)")

    def _cmd_lab(self, rest: list[str]) -> Any:
        """`%claw lab run|report|check|plan|stop|fork|fork-failures|optimize ...`: the prompt lab
        (claw_nb.jupyter.lab_magic); its runs go on in the background with the widget view."""
        from claw_nb.errors import ClawError
        from claw_nb.jupyter.lab_magic import run_lab_magic
        from claw_nb.jupyter.lab_runs import LabRuns

        if getattr(self, "_lab_runs", None) is None:
            self._lab_runs = LabRuns()
        try:
            return run_lab_magic(
                rest, self.config_for(), self._use_widgets(self.ui), self._lab_runs
            )
        except ClawError as exc:
            raise UsageError(" ".join(str(exc).split())) from None

    def _close_lab_runs(self) -> None:
        """On unload: stop the lab runs of this kernel (finished trials are in the log)."""
        runs = getattr(self, "_lab_runs", None)
        if runs is not None:
            runs.close()

    def _cmd_mcp(self, rest: list[str]) -> None:
        """`%claw mcp ...`: claw_nb.jupyter.mcp_magic."""
        from claw_nb.jupyter.mcp_magic import run_mcp_magic

        run_mcp_magic(self, rest)

    def _cmd_hooks(self, rest: list[str]) -> None:
        """`%claw hooks ...`: claw_nb.jupyter.hooks_magic."""
        from claw_nb.jupyter.hooks_magic import run_hooks_magic

        run_hooks_magic(self, rest)

    def _cmd_rules(self, rest: list[str]) -> None:
        """`%claw rules [drop N]`: claw_nb.jupyter.rules_magic."""
        from claw_nb.jupyter.rules_magic import run_rules_magic

        run_rules_magic(self, rest)

    def _cmd_tools(self, rest: list[str]) -> None:
        from claw_nb.permissions import PermissionPolicy
        from claw_nb.tools import default_tools

        config = self.config_for()
        if self.agent is not None:
            tools = list(self.agent.tools)
        else:
            tools = list(default_tools()) + [
                t for t in self._notebook_tools() if t.name not in default_tools()
            ]
        policy = PermissionPolicy.from_settings(config.settings, mode=self.mode)
        print(f"mode {policy.mode}:")
        width = max(len(t.name) for t in tools)
        for tool in tools:
            action, _ = policy.decide(tool.name, tool.kind, {})
            head = f"  {tool.name:<{width}}  {tool.kind:<7}  {action:<5}  "
            lines = textwrap.wrap(first_sentence(tool.description), SUMMARY_WIDTH) or [""]
            print(head + lines[0])
            for more in lines[1:]:  # wrapped at a word, under the summary column
                print(" " * len(head) + more)


SUMMARY_WIDTH = 64  # characters of a tool's summary per line in `%claw tools`


def first_sentence(text: str) -> str:
    """A description's first sentence, on one line, without its full stop."""
    flat = " ".join(text.split())
    cut = flat.find(". ")
    return (flat if cut < 0 else flat[:cut]).rstrip(".")


def _settings_mode(config: Any) -> str:
    section = config.settings.get("permissions", {}) if config.settings else {}
    return section.get("mode", "ask")


def _parse_bool(key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"%claw config: {key} must be true or false, got {value!r}")


def _parse_limit(rest: list[str], command: str) -> int | None:
    if not rest:
        return None
    if len(rest) > 1 or not rest[0].isdigit():
        raise UsageError(f"%claw {command}: give at most one number (how many rows)")
    return int(rest[0])


def model_listing(config: Any) -> None:
    """`%claw model --list`: the servers found, GGUFs in the models folder and the embedded
    model, the same report as `claw-nb models`."""
    from claw_nb.model.resolve import describe_models

    print(describe_models(config))


def _sandbox_line(agent: Any, config: Any) -> str:
    """Where commands run, as `%claw config` shows it."""
    try:
        runner = getattr(agent, "runner", None)
        if runner is None:
            from claw_nb.api import build_runner

            runner = build_runner(config)
        if getattr(runner, "sandboxed", False):
            return f"bubblewrap ({type(runner).__name__})"
        return f"none: commands run on this machine ({type(runner).__name__})"
    except Exception as exc:  # noqa: BLE001 - a settings view must not fail on this line
        return f"(unknown: {_one_line(exc)})"


def _notebook_line(shell: Any, config: Any) -> str:
    """How notebook edits reach the open notebook ("disk" or "live", and why)."""
    section = (config.settings.get("notebook") if config.settings else None) or {}
    wanted = section.get("mode", "auto")
    try:
        from claw_nb.jupyter.task_context import notebook_mode

        return str(notebook_mode(shell, prefer=wanted))
    except Exception as exc:  # noqa: BLE001
        return f"{wanted} (unknown: {_one_line(exc)})"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
