"""The kernel's interrupt (JupyterLab's stop button, Kernel > Interrupt) stops a widget run.

A widget run goes on in the background after its cell has returned, and ipykernel ignores
SIGINT while no cell executes (`signal.SIG_IGN`, set at start); around each cell it installs
Python's default handler and afterwards puts back the handler it found. So by default the
interrupt of every Jupyter user's reflex reaches nothing while the agent works.

`InterruptStopsRuns.install()`, called from a `%%claw` cell (the main thread, inside the
kernel's execute handler), makes ours the handler the kernel puts back after each cell. Ours
stops the run in progress and cancels the queued ones (as `%claw stop` does) when there are
any, and otherwise does what the kernel's handler did (ignore). While another cell executes,
the interrupt goes to that cell as usual; the next one, with the kernel idle, reaches the run.
The run then ends at its next safe point: the model request is closed, a pending approval is
denied, files are written whole or not at all, and the session is logged as `interrupted`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

Handler = Any  # a signal handler: a callable, signal.SIG_IGN or signal.SIG_DFL


class InterruptStopsRuns:
    """SIGINT in an idle kernel calls `stop_runs` (True when something was running)."""

    def __init__(self, shell: Any, stop_runs: Callable[[], bool]) -> None:
        self.shell = shell
        self.stop_runs = stop_runs
        self._idle_handler: Handler = None  # what the kernel put back between cells before us
        self.installed = False
        self.handler = self._handle  # one bound method: compared by identity below

    def install(self) -> bool:
        """Take over the kernel's between-cells handler; False where that cannot be done
        (not the main thread, not an ipykernel kernel). Safe to call for every cell."""
        kernel = getattr(self.shell, "kernel", None)
        if threading.current_thread() is not threading.main_thread() or kernel is None:
            return False
        saved = getattr(kernel, "saved_sigint_handler", None)
        if saved is self.handler:
            return True
        if saved is None:  # not inside an execute handler: the current one is the idle one
            self._idle_handler = signal.signal(signal.SIGINT, self.handler)
        else:  # inside a cell: ipykernel puts `saved_sigint_handler` back when it ends
            self._idle_handler = saved
            kernel.saved_sigint_handler = self.handler
        self.installed = True
        return True

    def uninstall(self) -> None:
        """Give the kernel its own handler back (the extension is unloaded)."""
        if not self.installed:
            return
        self.installed = False
        kernel = getattr(self.shell, "kernel", None)
        if kernel is not None and getattr(kernel, "saved_sigint_handler", None) is self.handler:
            kernel.saved_sigint_handler = self._idle_handler
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is self.handler:
                signal.signal(signal.SIGINT, self._idle_handler or signal.SIG_IGN)

    def _handle(self, signum: int, frame: Any) -> None:
        # A signal handler runs between two bytecodes of the main thread, which may hold a
        # lock the stop needs: the stop runs beside it.
        threading.Thread(target=self._stop_or_pass, args=(signum, frame), daemon=True).start()

    def _stop_or_pass(self, signum: int, frame: Any) -> None:
        if self.stop_runs():
            return
        previous = self._idle_handler
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, frame)  # a handler someone else installed between cells
