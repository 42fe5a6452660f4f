"""Per-command overhead of the sandbox, run by hand: `python bench/bench_sandbox.py [-n 200]`.

Runs `true` N times through each runner (after a few warm-up runs) and prints mean, median and
p95 wall time per command:

- bare: `subprocess.run(["bash", "-c", "true"])`, the floor any runner pays
- plain: PlainRunner (supervisor process, rlimits, env scrub, cgroup when available)
- bubblewrap: BwrapRunner with `session = false`, a sandbox per command (namespaces, mounts,
  masks, cgroup when available)
- session: BwrapRunner as configured by default, one sandbox for all the commands (the mount
  plan is still worked out before each one)
- plan: working out the mount plan alone (hidden paths, git metadata, identities), the part
  of a session command that grows with the user's log databases

then bubblewrap and session minus plain. Target (sandbox issue): bubblewrap under 15 ms more
than plain.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claw_nb.sandbox import (
    BwrapRunner,
    PlainRunner,
    SandboxSettings,
    bwrap_status,
)
from claw_nb.sandbox.cgroups import find_cgroup_base
from claw_nb.sandbox.mounts import MountPlan

TARGET_MS = 15.0


def measure(run, n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return statistics.fmean(samples), statistics.median(samples), p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="commands per runner (default 200)")
    args = parser.parse_args()

    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp).resolve()
        settings = SandboxSettings()
        results: dict[str, tuple[float, float, float]] = {}

        def bare():
            subprocess.run(["bash", "-c", "true"], cwd=ws, stdin=subprocess.DEVNULL, check=False)

        results["bare"] = summary(measure(bare, args.n))
        plain = PlainRunner(settings, ws)
        results["plain"] = summary(measure(lambda: plain.run("true", ws, 30), args.n))
        ok, reason = bwrap_status(settings.bwrap_path)
        if ok:
            alone = BwrapRunner(SandboxSettings(session=False), ws)
            results["bubblewrap"] = summary(measure(lambda: alone.run("true", ws, 30), args.n))
            session = BwrapRunner(settings, ws)
            results["session"] = summary(measure(lambda: session.run("true", ws, 30), args.n))
            session.close()

            def plan():
                git = session._git_guard(ws)
                try:
                    MountPlan.of(session.mount_args(ws, git))
                finally:
                    git.after()

            results["plan"] = summary(measure(plan, args.n))

    base = find_cgroup_base()
    print(f"`true` x {args.n} per runner; cgroup: {base.path if base else 'none (watchdog)'}")
    print(f"load average (1 min) {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'runner':<12}{'mean ms':>10}{'median ms':>11}{'p95 ms':>10}")
    for name, (mean, median, p95) in results.items():
        print(f"{name:<12}{mean:>10.2f}{median:>11.2f}{p95:>10.2f}")
    if "bubblewrap" not in results:
        print(f"bubblewrap unusable, not measured: {reason}")
        return 0
    for name in ("bubblewrap", "session"):
        diff = [b - p for b, p in zip(results[name], results["plain"])]
        label = f"{name[:7]}-plain"
        print(f"{label:<14}{diff[0]:>8.2f}{diff[1]:>11.2f}{diff[2]:>10.2f}")
    diff = [b - p for b, p in zip(results["bubblewrap"], results["plain"])]
    verdict = "OK" if diff[1] < TARGET_MS else "OVER"
    print(f"target: bubblewrap < plain + {TARGET_MS:g} ms per command (median): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
