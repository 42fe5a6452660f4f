"""Installed modules beat files in the workspace, for every import in a process that runs claw_nb.

A kernel's ``sys.path[0]`` is its working directory (``''``), usually the workspace the agent
writes. A ``write_file`` of ``nbformat.py``, ``duckdb.py`` or ``json.py`` there used to run
inside the kernel -- with its environment and secrets -- at the next import of that name by
claw_nb's lazy imports (or by the user's next cell). The finder installed here resolves a
top-level import first in the ``sys.path`` entries that are *not* the working directory (the
standard library, site-packages, explicit paths): what is installed is what gets imported. A
module that exists only in the workspace (the user's own ``utils.py``) still imports as before.

It changes how the whole process imports, so it is installed only where claw_nb is asked to
run: ``%load_ext claw_nb`` and the ``claw-nb`` command (removed again by ``%unload_ext``).
:func:`import_installed` imports one module the same way without installing anything.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import threading
from types import ModuleType

_lock = threading.Lock()
_permanent = [False]  # install() was called (import_installed must not remove the finder)


def _identity(path: str) -> tuple[int, int, int, int] | None:
    """What `path` leads to now: the deepest of it and its parents that exists (a zip's inner
    path, a folder not made yet), by how far up it is, device, inode and last change (a new
    entry in that folder changes it). None for a relative path with nothing found: asked
    again every time."""
    up = 0
    while True:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            parent = os.path.dirname(path)
            if not parent or parent == path:
                return None
            path, up = parent, up + 1
            continue
        return up, st.st_dev, st.st_ino, st.st_mtime_ns


# (what `os.getcwd()` said, what it led to) -> its real path; (entry, real cwd) -> (what the
# entry led to, whether it is the working directory's). A directory has one place, so while an
# entry leads to the same one (and, for a path not all there, its deepest existing folder is
# unchanged) its answer stands: each import asked `realpath` of every entry (~0.12 ms an
# import, ~25 ms a `claw-nb run`), now one `stat` or a few.
_cwd_cache: dict[tuple[str, tuple[int, int, int, int] | None], str] = {}
_entry_cache: dict[tuple[str, str | None], tuple[tuple[int, int, int, int] | None, bool]] = {}


def _cwd() -> str | None:
    try:
        here = os.getcwd()
    except OSError:
        return None
    key = (here, _identity(here))
    real = _cwd_cache.get(key)
    if real is None:
        real = _cwd_cache[key] = os.path.realpath(here)
        if len(_cwd_cache) > 64:
            _cwd_cache.clear()
    return real


def _is_working_dir_entry(entry: object, cwd: str | None) -> bool:
    """True for ``''``, ``'.'`` and entries that are (inside) the working directory."""
    if not isinstance(entry, str):
        return False
    if entry in ("", "."):
        return True
    if cwd is None:
        return False
    ident = _identity(entry)
    known = _entry_cache.get((entry, cwd))
    if known is not None and ident is not None and known[0] == ident:
        return known[1]
    real = os.path.realpath(entry)
    inside = real == cwd or real.startswith(cwd.rstrip(os.sep) + os.sep)
    if len(_entry_cache) > 256:
        _entry_cache.clear()
    _entry_cache[(entry, cwd)] = (ident, inside)
    return inside


def installed_path() -> list[str]:
    """``sys.path`` without the working directory's entries."""
    cwd = _cwd()
    return [p for p in sys.path if not _is_working_dir_entry(p, cwd)]


class InstalledFirstFinder(importlib.abc.MetaPathFinder):
    """Finds top-level modules in :func:`installed_path` before anywhere else."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 -- importlib's API
        if path is not None or "." in fullname:
            return None  # submodules are found through their package, not sys.path
        spec = importlib.machinery.PathFinder.find_spec(fullname, installed_path(), target)
        if spec is None or spec.loader is None or spec.origin is None:
            return None  # not installed (or only a namespace portion): the usual search
        return spec


_finder = InstalledFirstFinder()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    with _lock:
        _permanent[0] = True
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    with _lock:
        _permanent[0] = False
        while _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


def import_installed(name: str) -> ModuleType:
    """Import ``name`` (and what it imports meanwhile) with the finder in place, even when it
    is not installed process-wide."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    with _lock:
        added = _finder not in sys.meta_path
        if added:
            sys.meta_path.insert(0, _finder)
    try:
        return importlib.import_module(name)
    finally:
        with _lock:
            if added and not _permanent[0] and _finder in sys.meta_path:
                sys.meta_path.remove(_finder)
