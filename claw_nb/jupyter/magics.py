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
  The kernel's interrupt (JupyterLab's stop button) stops it too (`claw_nb.jupyter.interrupt`).
* text: anywhere else (terminal IPython, `jupyter nbconvert --execute`, nbval) the cell runs the
  agent to the end and prints the transcript, so an executed notebook holds all of it. Nobody
  can be asked there: calls that would ask are denied unless the mode or a rule allows them.

Settings are traitlets: `%config ClawMagics.model = "..."` or `c.ClawMagics.model` in
ipython_config.py, or `%claw config model=...`. Loading the extension imports nothing heavy;
LiteLLM, DuckDB and pandas load on first use. Every error is one line (a UsageError).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import magic_arguments
from traitlets import Bool, Dict, Int, Unicode, validate

from claw_nb.jupyter.conversation import Conversation, RunSpec, close_runner
from claw_nb.jupyter.error_text import error_line
from claw_nb.jupyter.options import UI_CHOICES, cell_options, help_text, split_options
from claw_nb.jupyter.rewind import RewindCommands
from claw_nb.jupyter.subcommands import Subcommands


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


@magics_class
class ClawMagics(Subcommands, RewindCommands, Conversation, Magics):
    """`%%claw` runs the coding agent; `%claw` manages it. Settings apply to this kernel."""

    model = Unicode(
        None, allow_none=True, help="LiteLLM model string (else CLAW_MODEL or the settings file)"
    ).tag(config=True)
    api_base = Unicode(None, allow_none=True, help="model server URL").tag(config=True)
    api_key = Unicode(None, allow_none=True, help="API key for the model server").tag(config=True)
    mode = Unicode(
        None,
        allow_none=True,
        help="permission mode: ask, accept-edits, auto, "
        "read-only (else the settings file's, else ask)",
    ).tag(config=True)
    max_steps = Int(None, allow_none=True, help="most model calls per task").tag(config=True)
    stream = Bool(None, allow_none=True, help="stream the model's replies").tag(config=True)
    ui = Unicode("auto", help="auto, widget or text: how %%claw shows a run").tag(config=True)
    db = Unicode(
        None,
        allow_none=True,
        help="DuckDB log file (else CLAW_DB, else .claw/claw.duckdb in the workspace)",
    ).tag(config=True)
    workspace = Unicode(
        None, allow_none=True, help="the agent's workspace (else the current directory)"
    ).tag(config=True)
    quiet = Bool(False, help="show only final answers").tag(config=True)
    preload = Bool(
        True,
        help="import the model layer (LiteLLM) in the background at "
        "%load_ext, so the first run does not wait for it",
    ).tag(config=True)
    options = Dict(
        help="other ClawConfig settings, e.g. {'num_ctx': 8192, 'temperature': 0.2}"
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
        self._interrupt: Any = None  # claw_nb.jupyter.interrupt.InterruptStopsRuns, when set

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
        options.update(
            model=self.model,
            api_base=self.api_base,
            api_key=self.api_key,
            max_steps=self.max_steps,
            stream=self.stream,
            db_path=self.db,
        )
        options.update({k: v for k, v in cell.items() if v is not None})
        if options.get("db_path") is not None:
            options["db_path"] = Path(options["db_path"]).expanduser().resolve()
        try:
            return load_config(self.workspace or Path.cwd(), **options)
        except ConfigError as exc:
            raise UsageError(f"claw: {_one_line(exc)}") from None

    # -- the magic ------------------------------------------------------------------------

    @magic_arguments()
    @cell_options
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
            raise UsageError(error_line(exc)) from None

    # -- %%claw -----------------------------------------------------------------------------

    def _task(self, line: str, cell: str) -> None:
        parser = self.claw.parser
        parser.allow_abbrev = False
        words, task_words = split_options(line, parser)
        if any(w in ("-h", "--help") for w in words):
            print(help_text())
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
        config = self.config_for(model=args.model, max_steps=args.max_steps, api_base=args.api_base)
        resume = self._find_session(config, args.session) if args.session else None
        task = self._expand(task)
        quiet = self.quiet if args.quiet is None else args.quiet
        spec = RunSpec(task=task, config=config, mode=mode, new=args.new, resume=resume)
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
                raise UsageError(
                    "%%claw: --ui widget needs a Jupyter kernel with ipywidgets; use --ui text"
                )
            return True
        front_end = bool(os.environ.get("JPY_SESSION_NAME")) or "google.colab" in sys.modules
        return kernel and front_end and _have_ipywidgets()

    def _busy(self) -> bool:
        return self._queue is not None and self._queue.busy

    def _text_run(self, spec: RunSpec, quiet: bool) -> None:
        from claw_nb.jupyter.text_view import NotebookTextPrinter

        if self._busy():
            raise UsageError(
                "claw: a run is still going in another cell; wait for it to "
                "finish or stop it (its Stop button, or %claw stop)"
            )
        kernel = type(self.shell).__name__ == "ZMQInteractiveShell"
        printer = NotebookTextPrinter(out=sys.stdout, quiet=quiet, markdown=kernel)
        agent = self._agent_for(spec)
        self.last_result = self._run(agent, spec, printer)

    def _start_widget_run(self, spec: RunSpec, quiet: bool) -> None:
        from claw_nb.jupyter.preload import model_layer_ready
        from claw_nb.jupyter.run_queue import RunQueue
        from claw_nb.jupyter.widget import WidgetTranscript

        view = WidgetTranscript(
            spec.task,
            quiet=quiet,
            max_steps=spec.config.max_steps,
            model_layer_ready=model_layer_ready,
        )
        self.last_view = view
        if spec.config.checkpoints:
            view.on_undo = lambda: self.undo_run(view)
        view.show()
        if self._queue is None:
            self._queue = RunQueue()
        self._interrupt_stops_runs()

        def job() -> Any:
            self._running_view = view  # a stop while the agent is built reaches it
            try:
                agent = self._agent_for(spec)
                result = self._run(agent, spec, view)
            except Exception as exc:  # noqa: BLE001 - shown in the transcript, one line
                view.failed(error_line(exc))
                return None
            finally:
                self._running_view = None
            self.last_result = result
            return result

        future = self._queue.submit(job)
        view.on_cancel = future.cancel
        future.add_done_callback(lambda f: view.cancelled() if f.cancelled() else None)
        ahead = self._queue.ahead_of(future)
        if ahead:
            view.queued(ahead)

    def _run(self, agent: Any, spec: RunSpec, view: Any) -> Any:
        """Run `spec` with `agent`, `view` listening and answering approvals. On the main
        thread (a text run) Ctrl-C or the kernel's interrupt stops the run at its next safe
        point instead of raising wherever the run happens to be."""
        from claw_nb.stop import sigint_stops

        self._running_view = view
        self._route.target = view
        view.bind(agent)
        try:
            with sigint_stops(agent.stop):
                return agent.run(
                    spec.task, max_steps=spec.config.max_steps, mode=spec.mode or self._base_mode
                )
        finally:
            self._route.target = None
            self._running_view = None
            self._ingest_log()

    def stop_runs(self) -> tuple[bool, int]:
        """Stop the run in progress and cancel the queued ones (`%claw stop`, the kernel's
        interrupt): (whether one was running, how many queued runs were cancelled)."""
        cancelled = self._queue.cancel_pending() if self._queue is not None else 0
        view = self._running_view
        if view is not None:
            view.stop()
        return view is not None, cancelled

    def _interrupt_stops_runs(self) -> None:
        """From a %%claw cell: the kernel's interrupt stops widget runs from now on."""
        if self._interrupt is None:
            from claw_nb.jupyter.interrupt import InterruptStopsRuns

            self._interrupt = InterruptStopsRuns(self.shell, lambda: any(self.stop_runs()))
        self._interrupt.install()

    def _approve(self, request: Any) -> str:
        """The agent's approver: whichever view runs now decides (text views deny)."""
        view = self._route.target
        return view.approve(request) if view is not None else "no"

    # -- unloading ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop what runs, cancel what waits, close the log."""
        self._closed = True
        if self._interrupt is not None:
            self._interrupt.uninstall()
        if self._queue is not None:
            self._queue.close()
        view = self._running_view
        if view is not None:
            view.stop()
        if self._queue is not None:
            self._queue.wait_idle(timeout=10)
        self._close_lab_runs()
        if self.agent is not None:
            with contextlib.suppress(Exception):  # a hook must not stop an unload
                self.agent.end_session("other")
            close_runner(self.agent)
        self._close_log()
        self._close_mcp()
        self.agent = None


def _check_mode(mode: str) -> None:
    from claw_nb.permissions import MODES

    if mode not in MODES:
        raise UsageError(
            f"claw: unknown permission mode {mode!r}; choose one of {', '.join(MODES)}"
        )


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
    from claw_nb.jupyter.preload import install_question_guard, start_preload

    install_question_guard(ipython)
    if magics.preload:
        start_preload()


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext claw_nb`: stop runs, close the log, remove the magics and the settings."""
    magics = _INSTANCES.pop(id(ipython), None)
    if magics is not None:
        _unregister(ipython, magics)


def _unregister(ipython: Any, magics: ClawMagics) -> None:
    from claw_nb.jupyter.preload import remove_question_guard

    magics.close()
    remove_question_guard(ipython)
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
