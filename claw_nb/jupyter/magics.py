"""IPython magics: `%%claw TASK` runs the agent; `%claw SUBCOMMAND` shows and changes its state.

    %load_ext claw_nb
    %%claw --mode accept-edits refactor utils.py so ...
    and add tests

The words after the options and the cell body together are the task. Consecutive `%%claw` cells
continue one conversation (one Agent per kernel) unless `--new`; `%claw resume [ID]` picks up a
session logged in DuckDB, e.g. after a kernel restart.

Two ways to run, chosen per cell (`--ui`, the `ClawMagics.ui` setting; "auto" by default):

* widget: in a kernel that a Jupyter server front end started (JupyterLab, Notebook), the cell
  shows a live transcript (`claw_nb.jupyter.widget`) and hands the run to a background thread
  (`claw_nb.jupyter.run_queue`), then returns: the kernel stays idle, so the Approve / Deny / Stop
  buttons work while the agent runs. A second `%%claw` meanwhile queues behind the first.
* text: anywhere else (terminal IPython, `jupyter nbconvert --execute`, nbval) the cell runs the
  agent to the end and prints the transcript, so an executed notebook holds all of it. Nobody
  can be asked there: calls that would ask are denied unless the mode or a rule allows them.

Settings are traitlets: `%config ClawMagics.model = "..."` or `c.ClawMagics.model` in
ipython_config.py, or `%claw config model=...`. Loading the extension imports nothing heavy;
LiteLLM, DuckDB and pandas load on first use. Every error is one line (a UsageError).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Dict, Int, Unicode, validate

UI_CHOICES = ("auto", "widget", "text")
# Settings `%claw config` can change, beyond these traitlets go to ClawMagics.options.
TRAIT_SETTINGS = ("model", "api_base", "api_key", "mode", "max_steps", "stream", "ui", "db",
                  "workspace", "quiet")
SUBCOMMANDS = ("config", "sessions", "log", "resume", "tools", "model", "new", "stop", "status",
               "compact", "help", "lab")
NO_ARGUMENTS = ("new", "stop", "status", "tools", "help")

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

_TOKEN = re.compile(r"""(?:[^\s"']+|"[^"]*"|'[^']*')+|["'][^\s]*""")

HELP = """\
claw: a coding agent in your notebook.

  %%claw [options] TASK...      run a task (the words after the options + the cell body)
  %claw [options] TASK...       the same for a one-line task
      --model NAME              LiteLLM model string for this cell
      --mode MODE               permissions: ask, accept-edits, auto, read-only
      --new                     start a fresh conversation
      --session ID              continue the logged session ID
      --max-steps N             most model calls for this task
      --quiet                   show only the final answer
      --ui auto|widget|text     live widgets, or a plain-text transcript

  %claw config [KEY=VALUE ...]  show or set settings for this kernel (KEY= resets)
  %claw model [NAME]            show or set the model
  %claw sessions [N]            logged sessions (a DataFrame, newest first)
  %claw log [ID]                the logged messages of a session (a DataFrame)
  %claw resume [ID]             continue a logged session (default: the latest)
  %claw new                     the next %%claw starts a fresh conversation
  %claw tools                   the agent's tools and what the permission mode does with them
  %claw stop                    stop the run in progress (next safe point), cancel queued ones
  %claw compact [FOCUS]         summarise the older turns of the conversation now
  %claw status                  the conversation and the run in progress
  %claw help                    this text
"""


class _Route:
    """The agent's one extra listener: forwards events to the view of the run in progress."""

    def __init__(self) -> None:
        self.target: Any = None

    def __call__(self, event: Any) -> None:
        target = self.target
        if target is not None:
            target(event)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


def split_options(line: str, parser: Any) -> tuple[list[str], str]:
    """Split `%%claw` line into option words and the task text, which is kept verbatim.

    Options come first; the first word that is not an option (or `--`) starts the task.
    """
    tokens = [(m.group(), m.end()) for m in _TOKEN.finditer(line)]
    options: list[str] = []
    end = 0
    i = 0
    while i < len(tokens):
        word, stop = tokens[i]
        if word == "--":
            end = stop
            break
        if not word.startswith("-") or word == "-":
            break
        options.append(word)
        end = stop
        i += 1
        action = parser._option_string_actions.get(word.split("=", 1)[0])
        if action is not None and action.nargs != 0 and "=" not in word and i < len(tokens):
            options.append(tokens[i][0])
            end = tokens[i][1]
            i += 1
    try:
        words = [part for option in options for part in shlex.split(option)]
    except ValueError as exc:
        raise UsageError(f"%%claw: cannot read the options: {exc}") from None
    return words, line[end:].strip()


@magics_class
class ClawMagics(Magics):
    """`%%claw` runs the coding agent; `%claw` manages it. Settings apply to this kernel."""

    model = Unicode(None, allow_none=True, help="LiteLLM model string (else CLAW_MODEL or the "
                    "settings file)").tag(config=True)
    api_base = Unicode(None, allow_none=True, help="model server URL").tag(config=True)
    api_key = Unicode(None, allow_none=True, help="API key for the model server").tag(config=True)
    mode = Unicode(None, allow_none=True, help="permission mode: ask, accept-edits, auto, "
                   "read-only (else the settings file's, else ask)").tag(config=True)
    max_steps = Int(None, allow_none=True, help="most model calls per task").tag(config=True)
    stream = Bool(None, allow_none=True, help="stream the model's replies").tag(config=True)
    ui = Unicode("auto", help="auto, widget or text: how %%claw shows a run").tag(config=True)
    db = Unicode(None, allow_none=True, help="DuckDB log file (else CLAW_DB, else "
                 ".claw/claw.duckdb in the workspace)").tag(config=True)
    workspace = Unicode(None, allow_none=True, help="the agent's workspace (else the current "
                        "directory)").tag(config=True)
    quiet = Bool(False, help="show only final answers").tag(config=True)
    options = Dict(help="other ClawConfig settings, e.g. {'num_ctx': 8192, 'temperature': 0.2}"
                   ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.agent: Any = None  # the conversation that the next %%claw continues
        self.last_result: Any = None
        self.last_view: Any = None  # the transcript of the latest widget run
        self._route = _Route()
        self._log: Any = None
        self._log_path: Path | None = None
        self._base_mode = "ask"
        self._queue: Any = None
        self._running_view: Any = None
        self._closed = False

    # -- settings -------------------------------------------------------------------------

    @validate("mode")
    def _check_mode(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None:
            _check_mode(value)
        return value

    @validate("ui")
    def _check_ui(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value not in UI_CHOICES:
            raise UsageError(f"ui must be one of {', '.join(UI_CHOICES)}, got {value!r}")
        return value

    def config_for(self, **cell: Any) -> Any:
        """The ClawConfig for a run: settings file < env < these traitlets < cell options."""
        from claw_nb.config import ConfigError, load_config

        options: dict[str, Any] = dict(self.options)
        options.update(model=self.model, api_base=self.api_base, api_key=self.api_key,
                       max_steps=self.max_steps, stream=self.stream, db_path=self.db)
        options.update({k: v for k, v in cell.items() if v is not None})
        if options.get("db_path") is not None:
            options["db_path"] = Path(options["db_path"]).expanduser().resolve()
        try:
            return load_config(self.workspace or Path.cwd(), **options)
        except ConfigError as exc:
            raise UsageError(f"claw: {_one_line(exc)}") from None

    # -- the magic ------------------------------------------------------------------------

    @magic_arguments()
    @argument("--model", help="LiteLLM model string for this cell")
    @argument("--mode", help="permission mode: ask, accept-edits, auto, read-only")
    @argument("--new", action="store_true", help="start a fresh conversation")
    @argument("--session", metavar="ID", help="continue the logged session ID")
    @argument("--max-steps", type=int, metavar="N", help="most model calls for this task")
    @argument("--quiet", action="store_true", default=None, help="show only the final answer")
    @argument("--ui", help="auto, widget or text")
    @argument("--api-base", help="model server URL for this cell")
    @line_cell_magic
    def claw(self, line: str, cell: str | None = None) -> Any:
        """Run the coding agent on a task (cell magic), or manage it (line magic).

        Cell: `%%claw [options] TASK...` -- the words after the options and the cell body
        together are the task. Line: `%claw config|sessions|log|resume|tools|model|new|stop|
        status|compact|help`, or `%claw [options] TASK...` for a one-line task (IPython runs no
        %%claw cell with an empty body); `%claw help` lists them.
        """
        if self._closed:
            raise UsageError("claw: the extension was unloaded; run %load_ext claw_nb")
        try:
            if cell is None:
                return self._line(line)
            return self._task(line, cell)
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line in the notebook, never a traceback
            raise UsageError(f"claw: {type(exc).__name__}: {_one_line(exc)}") from None

    # -- %%claw -----------------------------------------------------------------------------

    def _task(self, line: str, cell: str) -> None:
        parser = self.claw.parser
        parser.allow_abbrev = False
        words, task_words = split_options(line, parser)
        if any(w in ("-h", "--help") for w in words):
            print(HELP)
            return None
        try:
            args = parser.parse_args(words)
        except UsageError as exc:
            raise UsageError(f"%%claw: {exc}") from None
        task = "\n".join(part for part in (task_words, cell.strip()) if part)
        if not task:
            raise UsageError("%%claw: no task: write it after the options or in the cell body")
        mode = args.mode or self.mode
        if mode is not None:
            _check_mode(mode)
        ui = args.ui or self.ui
        if ui not in UI_CHOICES:
            raise UsageError(f"%%claw: --ui must be one of {', '.join(UI_CHOICES)}, got {ui!r}")
        if args.new and args.session:
            raise UsageError("%%claw: --new and --session contradict each other; give one")
        config = self.config_for(model=args.model, max_steps=args.max_steps,
                                 api_base=args.api_base)
        resume = self._find_session(config, args.session) if args.session else None
        task = self._expand(task)
        quiet = self.quiet if args.quiet is None else args.quiet
        spec = _RunSpec(task=task, config=config, mode=mode, new=args.new, resume=resume)
        if self._use_widgets(ui):
            return self._start_widget_run(spec, quiet)
        return self._text_run(spec, quiet)

    def _expand(self, task: str) -> str:
        """Notebook context ({var} interpolation, data frames, the last error), when available."""
        try:
            from claw_nb.jupyter.task_context import expand_task
        except ImportError:
            return task
        try:
            return expand_task(task, self.shell)
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - the helper's error, as one line
            raise UsageError(f"%%claw: {_one_line(exc)}") from None

    def _use_widgets(self, ui: str) -> bool:
        if ui == "text":
            return False
        kernel = type(self.shell).__name__ == "ZMQInteractiveShell"
        if ui == "widget":
            if not kernel or not _have_ipywidgets():
                raise UsageError("%%claw: --ui widget needs a Jupyter kernel with ipywidgets; "
                                 "use --ui text")
            return True
        front_end = bool(os.environ.get("JPY_SESSION_NAME")) or "google.colab" in sys.modules
        return kernel and front_end and _have_ipywidgets()

    def _busy(self) -> bool:
        return self._queue is not None and self._queue.busy

    def _text_run(self, spec: _RunSpec, quiet: bool) -> None:
        from claw_nb.jupyter.text_view import NotebookTextPrinter

        if self._busy():
            raise UsageError("claw: a run is still going in another cell; wait for it to "
                             "finish or stop it (its Stop button, or %claw stop)")
        printer = NotebookTextPrinter(out=sys.stdout, quiet=quiet)
        agent = self._agent_for(spec)
        self.last_result = self._run(agent, spec, printer)

    def _start_widget_run(self, spec: _RunSpec, quiet: bool) -> None:
        from IPython.display import display

        from claw_nb.jupyter.run_queue import RunQueue
        from claw_nb.jupyter.widget import WidgetTranscript

        view = WidgetTranscript(spec.task, quiet=quiet, max_steps=spec.config.max_steps)
        self.last_view = view
        display(view.widget)
        if self._queue is None:
            self._queue = RunQueue()

        def job() -> Any:
            try:
                agent = self._agent_for(spec)
                result = self._run(agent, spec, view)
            except Exception as exc:  # noqa: BLE001 - shown in the transcript, one line
                view.failed(str(exc) if isinstance(exc, UsageError) else
                            f"claw: {type(exc).__name__}: {_one_line(exc)}")
                return None
            self.last_result = result
            return result

        future = self._queue.submit(job)
        view.on_cancel = future.cancel
        future.add_done_callback(lambda f: view.cancelled() if f.cancelled() else None)
        ahead = self._queue.ahead_of(future)
        if ahead:
            view.queued(ahead)

    def _run(self, agent: Any, spec: _RunSpec, view: Any) -> Any:
        """Run `spec` with `agent`, `view` listening and answering approvals."""
        self._running_view = view
        self._route.target = view
        view.bind(agent)
        try:
            return agent.run(spec.task, max_steps=spec.config.max_steps,
                             mode=spec.mode or self._base_mode)
        finally:
            self._route.target = None
            self._running_view = None

    def _approve(self, request: Any) -> str:
        """The agent's approver: whichever view runs now decides (text views deny)."""
        view = self._route.target
        return view.approve(request) if view is not None else "no"

    # -- the conversation -----------------------------------------------------------------

    def _agent_for(self, spec: _RunSpec) -> Any:
        """The Agent that runs `spec`: the current conversation, a fresh one or a resumed one.

        Called when the run starts (on the worker thread in widget mode), so the runs before
        it have finished with the conversation.
        """
        current = self.agent
        if spec.resume is not None:
            session_id, history = spec.resume
            if current is not None and current.session_id == session_id:
                history = current.messages
            agent = self._build(spec.config, history=history, resumed_from=session_id)
            if current is not None and current.session_id == session_id:
                _carry_state(current, agent)
        elif spec.new or current is None:
            agent = self._build(spec.config)
        elif _needs_rebuild(current.config, spec.config):
            agent = self._build(spec.config, session_id=current.session_id,
                                history=current.messages)
            _carry_state(current, agent)
        else:
            agent = current
        self.agent = agent
        return agent

    def _build(self, config: Any, session_id: str | None = None,
               history: list[dict] | None = None, resumed_from: str | None = None) -> Any:
        from claw_nb.api import build_agent
        from claw_nb.permissions import PermissionSettingsError

        log = self._log_for(config)
        from claw_nb.tools import default_tools

        registry = default_tools()
        for tool in self._notebook_tools(config):
            if tool.name not in registry:
                registry.add(tool)
        try:
            agent, _ = build_agent(
                config, approver=_RoutedApprover(self), approver_name="user", listeners=[self._route],
                session_id=session_id, history=history, log=log, tools=registry,
                resumed_from=resumed_from,
            )
        except PermissionSettingsError as exc:
            raise UsageError(f"claw: {_one_line(exc)}") from None
        if agent.authorize is not None:
            self._base_mode = agent.authorize.mode
        return agent

    def _notebook_tools(self, config: Any = None) -> list:
        """notebook_read / notebook_edit / kernel_exec bound to this kernel; `[notebook] mode`
        in the settings file picks "disk", "live" or "auto" (the default)."""
        from claw_nb.jupyter.task_context import notebook_tools

        section = (config.settings.get("notebook") if config is not None else None) or {}
        return list(notebook_tools(self.shell, prefer=section.get("mode", "auto")))

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
            self._log = EventLog(path)
        except Exception as exc:  # noqa: BLE001 - one line in the notebook
            raise UsageError(
                f"claw: cannot open the log {path}: {_one_line(exc)} (another kernel may hold "
                "it; choose another file with %claw config db=PATH)"
            ) from None
        self._log_path = path
        return self._log

    def _close_log(self) -> None:
        log, self._log, self._log_path = self._log, None, None
        if log is not None:
            with contextlib.suppress(Exception):  # closing must not stop an unload
                log.close()

    def _session_id(self, config: Any, session_id: str | None) -> str:
        """A logged session's full id from a unique prefix (None: the latest session)."""
        from claw_nb.log.store import list_sessions

        db = config.resolved_db_path
        frame = list_sessions(db)
        ids = [str(x) for x in frame["session_id"]] if len(frame) else []
        if session_id is None:
            if not ids:
                raise UsageError(f"claw: no sessions logged in {db} yet")
            return ids[0]
        if session_id in ids:
            return session_id
        matches = [x for x in ids if x.startswith(session_id)]
        if len(matches) > 1:
            raise UsageError(f"claw: session id {session_id!r} is ambiguous: "
                             f"{', '.join(matches[:5])}")
        if not matches:
            raise UsageError(f"claw: no session {session_id!r} in {db}; %claw sessions lists them")
        return matches[0]

    def _find_session(self, config: Any, session_id: str | None) -> tuple[str, list[dict]]:
        """(id, messages) of a logged session; a unique prefix of the id is enough."""
        from claw_nb.log.store import load_messages

        session_id = self._session_id(config, session_id)
        messages = load_messages(config.resolved_db_path, session_id)
        if not messages:
            raise UsageError(f"claw: session {session_id} has no messages logged in "
                             f"{config.resolved_db_path}")
        return session_id, messages

    # -- %claw SUBCOMMAND ---------------------------------------------------------------------

    def _line(self, line: str) -> Any:
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        if not words:
            print(HELP)
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
        print(HELP)

    def _cmd_config(self, rest: list[str]) -> None:
        if not rest:
            self._show_config()
            return
        from claw_nb.config import ClawConfig

        known = {f.name for f in dataclasses.fields(ClawConfig)} - {"workspace", "db_path",
                                                                   "settings"}
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
        rows = [
            ("model", config.model),
            ("api_base", config.effective_api_base or "(LiteLLM default)"),
            ("api_key", shown_key or "(none)"),
            ("mode", mode),
            ("max_steps", config.max_steps),
            ("stream", config.stream),
            ("ui", self.ui),
            ("quiet", self.quiet),
            ("workspace", config.workspace),
            ("db", config.resolved_db_path),
        ]
        rows += [(k, getattr(config, k, v)) for k, v in sorted(self.options.items())]
        width = max(len(k) for k, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")

    def _cmd_model(self, rest: list[str]) -> None:
        if len(rest) > 1:
            raise UsageError("%claw model: give one model name, e.g. ollama_chat/qwen3-coder:30b")
        if rest:
            self.model = rest[0]
        print(self.config_for().model)

    def _cmd_lab(self, rest: list[str]) -> Any:
        """`%claw lab run|report|check ...`: the prompt lab (claw_nb.jupyter.lab_view)."""
        from claw_nb.errors import ClawError
        from claw_nb.jupyter.lab_view import run_lab_magic

        try:
            return run_lab_magic(rest, self.config_for(), self._use_widgets(self.ui))
        except ClawError as exc:
            raise UsageError(str(exc)) from None

    def _cmd_sessions(self, rest: list[str]) -> Any:
        from claw_nb.log.store import list_sessions

        limit = _parse_limit(rest, "sessions")
        config = self.config_for()
        frame = list_sessions(config.resolved_db_path)
        return frame if limit is None else frame.head(limit)

    def _cmd_log(self, rest: list[str]) -> Any:
        """The session's model and tool calls in order (default: this conversation's)."""
        if len(rest) > 1:
            raise UsageError("%claw log: give at most one session id")
        from claw_nb.log.store import connect

        config = self.config_for()
        wanted = rest[0] if rest else (self.agent.session_id if self.agent else None)
        session_id = self._session_id(config, wanted)
        con = connect(config.resolved_db_path, read_only=True)
        try:
            return con.execute(LOG_SQL, [session_id, session_id]).df()
        finally:
            con.close()

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
        self.agent = self._build(config, history=messages, resumed_from=session_id)
        tasks = [m.get("content") or "" for m in messages if m.get("role") == "user"]
        last = " ".join(tasks[-1].split())[:80] if tasks else ""
        print(f"claw: resumed session {session_id} ({len(messages)} messages, {len(tasks)} "
              f"task{'s' if len(tasks) != 1 else ''}); the next %%claw continues it."
              + (f" Last task: {last}" if last else ""))

    def _cmd_new(self, rest: list[str]) -> None:
        self.agent = None
        print("claw: the next %%claw starts a fresh conversation")

    def _cmd_stop(self, rest: list[str]) -> None:
        cancelled = self._queue.cancel_pending() if self._queue is not None else 0
        view = self._running_view
        if view is not None:
            view.stop()
        if view is None and not cancelled:
            print("claw: nothing is running")
            return
        parts = ["stopping the run in progress at its next safe point"] if view else []
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
            print(f"claw: compacted ({done.method}): {done.tokens_before:,} -> "
                  f"{done.tokens_after:,} tokens, {done.messages_before} -> "
                  f"{done.messages_after} messages")

    def _cmd_status(self, rest: list[str]) -> None:
        agent = self.agent
        if agent is None:
            print("claw: no conversation yet; the next %%claw starts one")
        else:
            turns = sum(1 for m in agent.messages if m.get("role") == "user")
            print(f"claw: session {agent.session_id} with {agent.model.name}: {turns} "
                  f"task{'s' if turns != 1 else ''}, {agent.steps} model calls")
        if self._busy():
            print("claw: a run is in progress (%claw stop stops it)")

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
            summary = tool.description.split(". ")[0].strip().rstrip(".")
            print(f"  {tool.name:<{width}}  {tool.kind:<7}  {action:<5}  {summary[:70]}")

    # -- unloading ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop what runs, cancel what waits, close the log."""
        self._closed = True
        if self._queue is not None:
            self._queue.close()
        view = self._running_view
        if view is not None:
            view.stop()
        if self._queue is not None:
            self._queue.wait_idle(timeout=10)
        self._close_log()
        self.agent = None


@dataclasses.dataclass
class _RunSpec:
    task: str
    config: Any
    mode: str | None = None
    new: bool = False
    resume: tuple[str, list[dict]] | None = None


def _check_mode(mode: str) -> None:
    from claw_nb.permissions import MODES

    if mode not in MODES:
        raise UsageError(f"claw: unknown permission mode {mode!r}; choose one of "
                         f"{', '.join(MODES)}")


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


def _needs_rebuild(old: Any, new: Any) -> bool:
    """True when the settings changed more than the step limit (model, endpoint, workspace...)."""
    return dataclasses.replace(new, max_steps=old.max_steps) != old


def _carry_state(old: Any, new: Any) -> None:
    """Move what the conversation learned into a rebuilt Agent (new model or settings)."""
    new.steps = old.steps
    new.context.todos = old.context.todos
    new.context.read_files = old.context.read_files
    if old.authorize is not None and new.authorize is not None:
        for rule in old.authorize.rules:
            if rule not in new.authorize.rules:
                new.authorize.rules.append(rule)


class _RoutedApprover:
    """The agent's approver in a kernel: whichever view runs now answers, and is named."""

    def __init__(self, magics: ClawMagics) -> None:
        self._magics = magics

    def __call__(self, request: Any) -> str:
        return self._magics._approve(request)

    @property
    def current_label(self) -> str | None:
        view = self._magics._route.target
        return getattr(view, "approver_label", None) if view is not None else None


def _have_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


_INSTANCES: dict[int, ClawMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext claw_nb`: register `%%claw` / `%claw`."""
    previous = _INSTANCES.pop(id(ipython), None)
    if previous is not None:
        _unregister(ipython, previous)
    magics = ClawMagics(shell=ipython)
    ipython.register_magics(magics)
    _INSTANCES[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext claw_nb`: stop runs, close the log, remove the magics and the settings."""
    magics = _INSTANCES.pop(id(ipython), None)
    if magics is not None:
        _unregister(ipython, magics)


def _unregister(ipython: Any, magics: ClawMagics) -> None:
    magics.close()
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        table = manager.magics.get(kind, {})
        bound = table.get("claw")
        if bound is not None and getattr(bound, "__self__", None) is magics:
            del table["claw"]
    if manager.registry.get(type(magics).__name__) is magics:
        del manager.registry[type(magics).__name__]
    if magics in getattr(ipython, "configurables", []):
        ipython.configurables.remove(magics)
