"""Whether bubblewrap can run here at all, and the namespace options every sandbox uses."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable

INSTALL_HINT = (
    "install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu) or "
    "`sudo dnf install bubblewrap` (Fedora)"
)


NS_FLAGS = (
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
)


def cap_flags() -> list[str]:
    # As real root, bwrap keeps every capability inside unless told otherwise.
    return ["--cap-drop", "ALL"] if os.geteuid() == 0 else []


_probe_cache: dict[tuple[str, int], tuple[bool, str]] = {}
_probe_lock = threading.Lock()
_started: set[str] = set()  # paths a background probe was started for
# real path of bwrap -> whether a sandbox launched with it came up (waits for its start): a
# session sandbox started early answers what the probe would (`launch_early`)
_launched: dict[str, Callable[[], bool]] = {}


def note_launched(bwrap_path: str, started: Callable[[], bool]) -> None:
    """A sandbox is starting with ``bwrap_path``: if it comes up, :func:`bwrap_status` says
    usable without a probe of its own (it waits for that start); if not, the probe runs and
    says why."""
    with _probe_lock:
        _launched[os.path.realpath(bwrap_path)] = started


def forget_launched(bwrap_path: str) -> None:
    """The sandbox :func:`note_launched` named was handed on or closed: nothing to wait for."""
    with _probe_lock:
        _launched.pop(os.path.realpath(bwrap_path), None)


def probe_in_background(bwrap_path: str = "bwrap") -> None:
    """Start :func:`bwrap_status` in a thread (it runs a process: ~10-30 ms): a caller that
    asks meanwhile waits for that probe and gets its cached answer, none runs twice."""
    with _probe_lock:
        if bwrap_path in _started:
            return
        _started.add(bwrap_path)
    threading.Thread(
        target=bwrap_status, args=(bwrap_path,), name="claw-bwrap-probe", daemon=True
    ).start()


def bwrap_status(bwrap_path: str = "bwrap") -> tuple[bool, str]:
    """(usable, why not) for bubblewrap at ``bwrap_path``: found, and a trivial sandbox with
    every namespace we use really starts. Cached per path."""
    path = shutil.which(bwrap_path)
    if path is None:
        return False, (
            f"bubblewrap (bwrap) was not found (looked for {bwrap_path!r}), so commands run "
            f"WITHOUT an OS sandbox and each one needs approval; to sandbox them, {INSTALL_HINT}"
        )
    key = (os.path.realpath(path), os.geteuid())
    with _probe_lock:
        if key in _probe_cache:
            return _probe_cache[key]
        launched = _launched.pop(key[0], None)
        if launched is not None and launched():
            _probe_cache[key] = (True, "")
            return _probe_cache[key]
        argv = [
            path,
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            *NS_FLAGS,
            *cap_flags(),
            "--unshare-net",
            "true",
        ]
        try:
            p = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=20,
                text=True,
                check=False,
            )
            ok, err = p.returncode == 0, (p.stderr or "").strip() or f"exit code {p.returncode}"
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, err = False, str(e)
        reason = (
            ""
            if ok
            else (
                f"bubblewrap is installed ({path}) but cannot create a sandbox here ({err}), so "
                "commands run WITHOUT an OS sandbox and each one needs approval. bwrap needs user "
                "namespaces (Ubuntu 24.04: `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`"
                " or an AppArmor profile for bwrap; Docker: run the container with "
                "`--security-opt seccomp=unconfined --security-opt apparmor=unconfined` or as "
                "privileged); a missing or too old bwrap: " + INSTALL_HINT
            )
        )
        _probe_cache[key] = (ok, reason)
        return ok, reason
