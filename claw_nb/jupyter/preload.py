"""What `%load_ext claw_nb` starts besides the magics: the model layer's import, and a guard for
one-line questions.

LiteLLM's import takes 3 s on an idle machine and 12-19 s on a loaded one; a fresh kernel showed
"step 0" for that long. `start_preload()` imports it on a daemon thread, so `%load_ext` returns
at once and the first `%%claw` finds it loaded (or still loading: the header says so).

IPython reads a line ending in `?` as a help request (`%claw why is this slow?` would look up
`slow`); `keep_questions` rewrites such a `%claw` line into a plain call of the magic first.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

_thread: threading.Thread | None = None
_done = threading.Event()


def _import_model_layer() -> None:
    try:
        import claw_nb.api  # noqa: F401 - the agent's wiring, duckdb and friends
        from claw_nb.model import litellm_model

        loader = getattr(litellm_model, "litellm", None)
        if callable(loader):
            loader()  # the quiet, offline import the model layer itself uses
    except Exception:  # noqa: BLE001 - the first run imports it again and reports what failed
        pass
    finally:
        _done.set()


EXIT_WAIT_SECONDS = 60.0


def start_preload() -> None:
    """Start importing the model layer in the background (once per process)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_import_model_layer, name="claw-preload", daemon=True)
        _thread.start()
        atexit.register(_finish_before_exit)


def _finish_before_exit() -> None:
    """A process that ends while the import runs would tear the interpreter down under a
    daemon thread inside an extension module's initialisation, and abort ("FATAL: exception
    not rethrown"): let the import finish first (bounded)."""
    _done.wait(EXIT_WAIT_SECONDS)


def model_layer_ready() -> bool:
    """False while the background import runs (the header says "loading model layer")."""
    if _thread is None:
        import sys

        module = sys.modules.get("litellm")
        return module is not None and hasattr(module, "completion")
    return _done.is_set()


def keep_questions(lines: list[str]) -> list[str]:
    """An input transformer: `%claw TASK?` runs the magic instead of IPython's help lookup."""
    if not lines or lines[0].lstrip().startswith("%%"):
        return lines
    out = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("%claw ") and stripped.endswith("?"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}get_ipython().run_line_magic('claw', {stripped[6:].strip()!r})\n")
        else:
            out.append(line)
    return out


def install_question_guard(shell: Any) -> None:
    cleanup = getattr(shell, "input_transformers_cleanup", None)
    if cleanup is not None and keep_questions not in cleanup:
        cleanup.append(keep_questions)


def remove_question_guard(shell: Any) -> None:
    cleanup = getattr(shell, "input_transformers_cleanup", None)
    if cleanup is not None and keep_questions in cleanup:
        cleanup.remove(keep_questions)
