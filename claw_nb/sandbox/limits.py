"""rlimits for a command: what to set, and the same as ``ulimit`` commands for bash."""

from __future__ import annotations

import resource

from claw_nb.sandbox.settings import SandboxSettings


def _system_threads() -> int:
    """Tasks on the whole machine (from /proc/loadavg): an upper bound for one user's count."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        return 0


def rlimits(settings: SandboxSettings, own_user_ns: bool = False) -> list[tuple[str, int, int]]:
    """(RLIMIT_ name, soft, hard) to set, never above the current hard limits.

    The CPU hard limit is a few seconds above the soft one, so the command first gets SIGXCPU
    (reported as "CPU time limit") and only then SIGKILL. ``own_user_ns``: the limits are set
    inside a fresh user namespace, where RLIMIT_NPROC counts only that namespace's tasks.
    """
    wanted = [("RLIMIT_CORE", 0, 0)]
    if settings.cpu_seconds:
        wanted.append(("RLIMIT_CPU", settings.cpu_seconds, settings.cpu_seconds + 5))
    if settings.memory_mb:
        wanted.append(("RLIMIT_AS", settings.memory_mb << 20, settings.memory_mb << 20))
    if settings.file_size_mb:
        wanted.append(("RLIMIT_FSIZE", settings.file_size_mb << 20, settings.file_size_mb << 20))
    if settings.processes:
        # Outside a fresh user namespace RLIMIT_NPROC counts *all* tasks of the user, so allow
        # what already runs plus the limit. The kernel ignores it for root: see the cgroup and
        # the watchdog.
        n = settings.processes + (3 if own_user_ns else _system_threads())
        wanted.append(("RLIMIT_NPROC", n, n))
    out = []
    for name, soft, hard in wanted:
        _, current_hard = resource.getrlimit(getattr(resource, name))
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        out.append((name, soft, hard))
    return out


def ulimit_command(limits: list[tuple[str, int, int]]) -> str:
    """bash ``ulimit`` commands setting :func:`rlimits` values (soft first, then hard)."""
    flag = {
        "RLIMIT_CORE": ("-c", 1024),
        "RLIMIT_CPU": ("-t", 1),
        "RLIMIT_AS": ("-v", 1024),
        "RLIMIT_FSIZE": ("-f", 1024),
        "RLIMIT_NPROC": ("-u", 1),
    }
    soft = " ".join(f"{flag[n][0]} {max(0, v // flag[n][1])}" for n, v, _ in limits)
    hard = " ".join(f"{flag[n][0]} {max(0, v // flag[n][1])}" for n, _, v in limits)
    return f"ulimit -S {soft} && ulimit -H {hard}"
