"""Running shell commands for the agent, inside an OS sandbox when one is available.

* :class:`BwrapRunner` runs every command under bubblewrap: the host filesystem read-only, the
  workspace writable, private ``/tmp`` and ``/run``, secrets under ``$HOME`` hidden, no network
  (unless allowed), its own PID/IPC/UTS namespaces, no capabilities. One sandbox serves the
  runner's commands (a *session sandbox*, :mod:`claw_nb.sandbox.session`): started on the first
  command, or earlier in the background (``BwrapRunner.prestart``, what ``claw-nb run`` asks
  for), with a small command server as its PID 1, and started again whenever what it must
  show changes (the mount plan is worked out before every command). When a command ends,
  every process it left is killed.
* :class:`PlainRunner` runs the command directly on the host (no isolation) under a small
  supervisor process that is a *child subreaper*, so daemons that detach (``setsid``,
  double fork) stay its descendants and are killed when the command ends.

Both set rlimits (CPU time, address space, file size, processes, no core files), close stdin,
scrub secrets from the environment (:mod:`claw_nb.sandbox.environment`), enforce a wall-clock timeout on
the whole process tree, keep the head and tail of the output in memory and save the full output
(capped) to ``<workspace>/.claw/outputs/``. Process counts are capped with a cgroup ``pids.max``
when a writable cgroup hierarchy with the pids controller exists, else by a watchdog that counts
the command's processes and kills them all past the limit (RLIMIT_NPROC does not bind root).

:func:`make_runner` picks bubblewrap when it is installed and can create namespaces, else the
plain runner with a one-time warning. See ``docs/security.md``.

Modules: settings, capture (output), process (spawn and supervise), limits (rlimits), cgroups,
environment (the scrub), exposure (hidden paths), plain, bwrap (the runner), bwrap_alone (a sandbox
per command), bwrap_probe (is it usable), mounts (the mount options and plan), session and
server_channel (the session sandbox); ``_reaper.py`` (the plain runner's supervisor) and ``_server.py`` (the session
sandbox's command server) run as their own processes.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claw_nb.errors import SandboxSettingsError
from claw_nb.lazy_logger import get_logger
from claw_nb.protocols import CommandResult, CommandRunner
from claw_nb.sandbox.bwrap import BwrapRunner
from claw_nb.sandbox.bwrap_probe import (
    bwrap_status,
    forget_launched,
    note_launched,
    probe_in_background,
)
from claw_nb.sandbox.capture import CappedBuffer, OutputLog
from claw_nb.sandbox.plain import PlainRunner
from claw_nb.sandbox.process import Supervisor, run_capped
from claw_nb.sandbox.settings import SandboxSettings

logger = get_logger("claw_nb.sandbox")
_announced: set[str] = set()
_announce_lock = threading.Lock()


def probe_soon(settings: Mapping[str, Any] | None, **overrides: Any) -> None:
    """Ask now, in the background, whether bubblewrap works (a process, ~10-30 ms), for a
    runner :func:`make_runner` makes soon from these settings (the ``[sandbox]`` table and
    the overrides); bad settings are left for that runner to report."""
    try:
        sandbox = SandboxSettings.from_settings(settings, **overrides)
    except SandboxSettingsError:
        return
    if sandbox.enabled:
        probe_in_background(sandbox.bwrap_path)


_early: dict[str, BwrapRunner] = {}  # real path of bwrap -> a runner launched early


def launch_early(settings: Mapping[str, Any] | None, workspace: Path) -> None:
    """For a process about to run commands in ``workspace`` (`claw-nb run`): launch the
    session sandbox now, in the background, instead of a probe. Its start says whether
    bubblewrap works (the probe's trivial sandbox cost ~5 ms of CPU more), and
    :func:`make_runner` hands this runner on when asked for the same settings and workspace.
    Otherwise (session sandboxes off, no bubblewrap found, bad settings) as
    :func:`probe_soon`."""
    try:
        sandbox = SandboxSettings.from_settings(settings)
    except SandboxSettingsError:
        return
    path = shutil.which(sandbox.bwrap_path) if sandbox.enabled and sandbox.session else None
    if path is None or os.path.realpath(path) in _early:
        probe_soon(settings)
        return
    runner = BwrapRunner(sandbox, workspace)
    runner.prestart()
    if not runner.launched:  # it said why at debug level: the probe instead
        runner.close()
        probe_soon(settings)
        return
    _early[os.path.realpath(path)] = runner
    if sandbox.network:  # its start leaves the network shared: it cannot stand in for the
        probe_soon(settings)  # probe, which checks a network namespace too
    else:
        note_launched(path, runner.started)


def close_early() -> None:
    """Close the runners :func:`launch_early` made that nobody took (a run that failed to
    start): their sandboxes and cgroups end now, not with the process."""
    while _early:
        path, runner = _early.popitem()
        forget_launched(path)
        runner.close()


def _take_early(settings: SandboxSettings, workspace: Path | None) -> BwrapRunner | None:
    """The runner :func:`launch_early` made, if it was for these settings and workspace (one
    made for others is closed)."""
    path = shutil.which(settings.bwrap_path)
    runner = _early.pop(os.path.realpath(path), None) if path else None
    if runner is None:
        return None
    forget_launched(path)
    if runner.settings == settings and runner.workspace == workspace:
        return runner
    runner.close()
    return None


def make_runner(settings: SandboxSettings | None = None, workspace: Path | None = None):
    """The runner the settings ask for: bubblewrap when usable, else plain.

    A plain runner made because bubblewrap is unusable has ``fallback_reason`` set, and the
    reason is said once per process: one line on the ``claw_nb.sandbox`` logger (no Python
    warning with a source line); ``fallback_announced`` tells a shell it need not repeat it.
    With ``enabled = false`` the reason says so and nothing is logged.
    """
    settings = settings or SandboxSettings()
    if not settings.enabled:
        runner = PlainRunner(settings, workspace)
        runner.fallback_reason = (
            "the sandbox is disabled ([sandbox] enabled = false): commands run directly on "
            "this machine and each one needs approval"
        )
        return runner
    ok, reason = bwrap_status(settings.bwrap_path)
    early = _take_early(settings, workspace)
    if ok:
        return early or BwrapRunner(settings, workspace)
    if early is not None:
        early.close()
    with _announce_lock:
        first = reason not in _announced
        _announced.add(reason)
    if first:
        logger.warning("claw_nb: %s", reason)
    runner = PlainRunner(settings, workspace)
    runner.fallback_reason = reason
    runner.fallback_announced = True
    return runner


__all__ = [
    "BwrapRunner",
    "CappedBuffer",
    "CommandResult",
    "CommandRunner",
    "OutputLog",
    "PlainRunner",
    "SandboxSettings",
    "SandboxSettingsError",
    "Supervisor",
    "bwrap_status",
    "close_early",
    "launch_early",
    "make_runner",
    "probe_soon",
    "run_capped",
]
