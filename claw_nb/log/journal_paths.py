"""Where journals live: one private folder per user, one subfolder per log database.

Ingest trusts what a journal says, so journals live where the agent cannot write: not next to
the database (often inside the workspace, which sandboxed commands and file tools write) but in
the user's cache directory, mode 0700, which the bubblewrap sandbox also hides.

Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path

_root_lock = threading.Lock()
_roots: dict[str, Path] = {}


def journal_root() -> Path:
    """Where every journal of this user lives: ``$XDG_CACHE_HOME/claw_nb/journals`` (default
    ``~/.cache``), else ``<tmp>/claw_nb-<uid>/journals``; made 0700 (remembered per process).

    Outside any workspace, and hidden inside the bubblewrap sandbox, so an agent can neither
    forge the rows ingest trusts nor read the log. Never raises: when no candidate can be
    made, the first one is returned and writing a journal fails there (the log reports it).
    """
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    temp = tempfile.gettempdir()
    key = f"{cache}\0{temp}"  # what the candidates are made of (asked before every command)
    with _root_lock:
        if key in _roots:
            return _roots[key]
    candidates = [
        Path(cache) / "claw_nb" / "journals",
        Path(temp) / f"claw_nb-{os.getuid()}" / "journals",
    ]
    with _root_lock:
        if key in _roots:
            return _roots[key]
        chosen = candidates[0]
        for root in candidates:
            if not root.is_absolute():
                continue
            try:
                root.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.chmod(root, 0o700)
                if os.stat(root).st_uid != os.getuid():
                    continue
            except OSError:
                continue
            chosen = root
            break
        else:
            return chosen  # not remembered: try again next time
        _roots[key] = chosen
        return chosen


def journal_dir(db_path: str | os.PathLike[str]) -> Path:
    """Where the journals of the database ``db_path`` live: one directory per database file
    (its stem plus a hash of its real path) under :func:`journal_root`, so two databases never
    take each other's journals."""
    db_path = Path(os.path.realpath(os.path.abspath(db_path)))
    digest = hashlib.sha256(os.fsencode(db_path)).hexdigest()[:16]
    return journal_root() / f"{safe_label(db_path.stem)}-{digest}"


def safe_label(label: str) -> str:
    """``label`` fit for a file name: safe characters only, at most 64, not hidden."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)[:64].lstrip(".") or "events"
