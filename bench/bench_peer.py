"""claw_nb against a lean peer, side by side, as processes: run by hand, prints a table.

    python bench/bench_peer.py [--peer PATH] [--runs 5] [--stream] [--before PATH]

A 20-step scripted session (read a 3 kB file, edit it, run `python -c 'print(1)'`, repeated,
then a final answer) is served by the scripted OpenAI-compatible server in this process, and
each agent runs it as a fresh process (`claw-nb run`, and the peer's CLI). Runs are interleaved;
the table shows medians of wall time, CPU (the process and what it waited for), peak RSS, time
from process start to the first request, time between one answer and the next request (agent
time plus the tool's own work), time from the last answer to the process exit, and request bytes.

The peer is claw-code-agent (HarnessLab/claw-code-agent on GitHub, no dependencies): pass a
checkout with `--peer PATH` (or set CLAW_PEER). Without it the peer's column holds the figures
issue 23 measured (another machine, so read the ratios loosely). The targets column has issue
23's goals (against the peer) and issue 15's (claw_nb alone). The load average is printed:
figures from a loaded machine carry its noise. `--before PATH` runs another claw_nb tree (an older
checkout) interleaved too, for before/after figures; `--claw-root` picks the main one. Each
run has a new user's cache and config folders (`--user-state mine` keeps this user's).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from claw_nb.testing import ScriptedServer, call, text, tool_calls  # noqa: E402

STEPS = 20
FILE = "notes.py"
TARGETS = {  # issue 15, for a run without the peer
    "first request (s)": 1.0,
    "peak RSS (MiB)": 120.0,
    "exit after log written (ms)": 100.0,
    "agent ms a step (no tool)": 10.0,
}
# Issue 23, against the peer: "x" is a ratio to the peer's median, else an absolute bound.
PEER_TARGETS = {
    "wall (s)": "<= 1.0x",
    "CPU (s)": "<= 1.0x",
    "peak RSS (MiB)": "<= 45",
    "first request (s)": "< 0.5",
    "exit after last answer (ms)": "< 50",
}
# Issue 23's figures for the peer (7 interleaved pairs, another loaded machine): printed when
# no peer checkout is given, so the five figures can still be read side by side.
ISSUE_23_PEER = {
    "wall (s)": 1.66,
    "CPU (s)": 1.07,
    "peak RSS (MiB)": 28.0,
    "first request (s)": 0.83,
    "exit after last answer (ms)": 100.0,
}


def make_file(workspace: Path) -> None:
    lines = [
        f"value_{i:02d} = compute({i}, 'some text to make the line longer')  # {i:02d}"
        for i in range(40)
    ]
    (workspace / FILE).write_text("\n".join(lines) + "\n")  # ~3 kB


# Starts the agent from a small process and reports its times, CPU and peak RSS. Waiting for the
# agent from this process instead would report this process's own RSS as the agent's: a child
# started with vfork (subprocess does) inherits the parent's high-water mark when it execs.
# The launcher is a child subreaper: a process the agent left without reaping it (a sandbox's
# command server, whose bubblewrap was killed first) comes back to it, and its CPU (with that
# of the commands it reaped) counts as the agent's; otherwise it counted for nobody, at random.
# perf_counter is CLOCK_MONOTONIC on Linux, the scripted server's clock too.
LAUNCHER = """
import ctypes, os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)  # the agent's own CPU and peak RSS, and its commands'
ended = time.perf_counter()
cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
deadline = time.monotonic() + 5
while True:  # what the agent left behind, as it ends
    try:
        orphan, _, usage = os.wait4(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if orphan:
        cpu, rss = cpu + usage.ru_utime + usage.ru_stime, max(rss, usage.ru_maxrss)
    elif time.monotonic() > deadline:
        break
    else:
        time.sleep(0.005)
with open(report, "w") as f:
    f.write(f"{started} {ended} {status} {cpu} {rss}")
"""


@dataclass(frozen=True)
class Dialect:
    """How one agent names the tools of the script."""

    read: tuple[str, str]  # tool, path argument
    edit: tuple[str, str, str, str]  # tool, path, old, new argument names
    run: tuple[str, str]  # tool, command argument


CLAW = Dialect(
    ("read_file", "path"),
    ("edit_file", "path", "old_string", "new_string"),
    ("run_command", "command"),
)
PEER = Dialect(
    ("read_file", "path"), ("edit_file", "path", "old_text", "new_text"), ("bash", "command")
)


def script(d: Dialect) -> list:
    replies = []
    for step in range(STEPS):
        kind = step % 3
        if kind == 0:
            replies.append(tool_calls(call(d.read[0], {d.read[1]: FILE})))
        elif kind == 1:
            tool, path, old, new = d.edit
            replies.append(
                tool_calls(
                    call(tool, {path: FILE, old: f"value_{step:02d} =", new: f"VALUE_{step:02d} ="})
                )
            )
        else:
            replies.append(tool_calls(call(d.run[0], {d.run[1]: "python -c 'print(1)'"})))
    replies.append(text("Done: the file was read, edited and the command ran."))
    return replies


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mib: float
    first_request: float
    gaps_ms: list[float]
    exit_ms: float
    requests: int
    bytes_first: int
    bytes_total: int
    ok: bool
    extra: dict = field(default_factory=dict)


def run_once(
    name: str,
    d: Dialect,
    command_for,
    stream: bool,
    env: dict,
    cwd: Path | None,
    settings: str = "",
    fresh_user: bool = True,
) -> Run:
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(script(d)) as server:
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        make_file(workspace)
        if settings:
            (workspace / ".claw").mkdir()
            (workspace / ".claw" / "settings.toml").write_text(settings)
        argv = command_for(server.url, workspace, Path(tmp), stream)
        if fresh_user:  # a new user's cache and config folders (claw_nb's journals, index)
            state = {"XDG_CACHE_HOME": f"{tmp}/cache", "XDG_CONFIG_HOME": f"{tmp}/config"}
            env = {**env, **state}
        report = Path(tmp) / "usage"
        with open(Path(tmp) / "out", "wb") as out, open(Path(tmp) / "err", "wb") as errors:
            # Not the repository as the working directory: `python -m` would import from it.
            subprocess.run(
                [sys.executable, "-I", "-S", "-c", LAUNCHER, str(report), *argv],
                cwd=cwd or tmp,
                env=env,
                stdout=out,
                stderr=errors,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        ended_wall = time.time()
        started, ended, status, cpu, maxrss_kib = report.read_text().split()
        started, ended = float(started), float(ended)
        returncode = os.waitstatus_to_exitcode(int(status))
        err = (Path(tmp) / "err").read_bytes()
        db = Path(tmp) / "claw.duckdb"
        extra = {}
        with user_state(env):  # where the agent's journals went
            written = last_log_write(db)
            if written is not None:  # claw_nb: when its log was last written, its tool times
                extra["exit after log written (ms)"] = (ended_wall - written) * 1000
                extra["tool_ms"] = tool_times(db)
        meta = server.request_meta
        edited = (workspace / FILE).read_text().count("VALUE_")
    if not meta:
        raise SystemExit(f"{name}: made no request; stderr:\n{err.decode()[-2000:]}")
    gaps = [
        (meta[i + 1]["received_at"] - meta[i]["answered_at"]) * 1000 for i in range(len(meta) - 1)
    ]
    ok = returncode == 0 and len(meta) == STEPS + 1 and edited == (STEPS + 1) // 3
    if not ok:
        print(
            f"warning: {name} run not clean: exit {returncode}, {len(meta)} requests, "
            f"{edited} edits; stderr: {err.decode()[-500:]}",
            file=sys.stderr,
        )
    return Run(
        wall=ended - started,
        cpu=float(cpu),
        rss_mib=int(maxrss_kib) / 1024,
        first_request=meta[0]["received_at"] - started,
        gaps_ms=gaps,
        exit_ms=(ended - meta[-1].get("answered_at", ended)) * 1000,
        requests=len(meta),
        bytes_first=meta[0]["bytes"],
        bytes_total=sum(m["bytes"] for m in meta),
        ok=ok,
        extra=extra,
    )


@contextlib.contextmanager
def user_state(env: dict):
    """This process reads claw_nb's journals where the agent's environment put them."""
    keys = ("XDG_CACHE_HOME", "XDG_CONFIG_HOME")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: env[k] for k in keys if k in env})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def last_log_write(db: Path) -> float | None:
    """When claw_nb last wrote its log: the database (a tree that ingests at exit) or the
    session's journal (one that leaves that to the next reader); None for the peer."""
    from claw_nb.log.journal_paths import journal_dir
    from claw_nb.log.journal_reader import list_journals

    files = [*db.parent.glob("claw.duckdb*"), *list_journals(journal_dir(db))]
    return max((f.stat().st_mtime for f in files), default=None)


def tool_times(db: Path) -> list[float]:
    """Per step, the milliseconds claw_nb's tools took, from its log (opening it through
    claw_nb ingests the session's journal first, as `claw-nb sessions` would)."""
    from claw_nb.log.store import connect

    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT step, sum(duration_ms) FROM tool_calls GROUP BY step ORDER BY step"
        ).fetchall()
    finally:
        con.close()
    return [float(ms) for _, ms in rows]


def claw_command(root: Path):
    def argv(url: str, workspace: Path, tmp: Path, stream: bool) -> list[str]:
        return [
            sys.executable,
            "-m",
            "claw_nb",
            "run",
            "--cwd",
            str(workspace),
            "--model",
            "openai/scripted",
            "--api-base",
            url,
            "--api-key",
            "sk-bench",
            "--db",
            str(tmp / "claw.duckdb"),
            "--mode",
            "auto",
            "--yes",
            "--quiet",
            "--max-steps",
            str(STEPS + 5),
            "--stream" if stream else "--no-stream",
            "Work through the file.",
        ]

    return argv


def peer_command(url: str, workspace: Path, tmp: Path, stream: bool) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "src.main",
        "agent",
        "Work through the file.",
        "--cwd",
        str(workspace),
        "--model",
        "scripted",
        "--base-url",
        url,
        "--api-key",
        "sk-bench",
        "--allow-write",
        "--allow-shell",
        "--max-turns",
        str(STEPS + 5),
    ]
    return argv + (["--stream"] if stream else [])


def summarise(runs: list[Run]) -> dict[str, float]:
    med = statistics.median
    extra = {}
    if all("tool_ms" in r.extra and len(r.extra["tool_ms"]) == len(r.gaps_ms) for r in runs):
        extra["agent ms a step (no tool)"] = med(
            med(g - t for g, t in zip(r.gaps_ms, r.extra["tool_ms"])) for r in runs
        )
        extra["exit after log written (ms)"] = med(
            r.extra["exit after log written (ms)"] for r in runs
        )
    return {
        "wall (s)": med(r.wall for r in runs),
        "CPU (s)": med(r.cpu for r in runs),
        "peak RSS (MiB)": med(r.rss_mib for r in runs),
        "first request (s)": med(r.first_request for r in runs),
        "between requests (ms)": med(med(r.gaps_ms) for r in runs),
        "exit after last answer (ms)": med(r.exit_ms for r in runs),
        "bytes, step 1": med(r.bytes_first for r in runs),
        "bytes, session": med(r.bytes_total for r in runs),
        "clean runs": sum(r.ok for r in runs),
        **extra,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--peer",
        type=Path,
        default=os.environ.get("CLAW_PEER"),
        help="a checkout of claw-code-agent (its folder holding src/)",
    )
    parser.add_argument(
        "--claw-root", type=Path, default=ROOT, help="the claw_nb tree to run (default: this one)"
    )
    parser.add_argument(
        "--before", type=Path, help="another claw_nb tree (e.g. an older checkout), run interleaved"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stream", action="store_true", help="stream replies (both agents)")
    parser.add_argument(
        "--backend",
        choices=["auto", "litellm", "direct"],
        help="claw_nb's model path (model_backend setting; default: auto)",
    )
    parser.add_argument(
        "--sandbox",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [sandbox] setting for both claw_nb trees, as TOML (e.g. nice=0, session=false)",
    )
    parser.add_argument(
        "--bytecode",
        action="store_true",
        help="let both agents cache bytecode (in a temporary folder, warmed by one untimed "
        "round), as an installed package does, even where PYTHONDONTWRITEBYTECODE is set",
    )
    parser.add_argument(
        "--user-state",
        choices=["fresh", "mine"],
        default="fresh",
        help="fresh (default): each run gets a new user's cache and config folders, as a "
        "first run has; mine: this user's (claw_nb's index of every log database it wrote "
        "included: a machine that ran the tests lists hundreds, ~10 ms to resolve at start)",
    )
    args = parser.parse_args()
    fresh = args.user_state == "fresh"

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
    pycache = None
    if args.bytecode:
        # Not under /tmp: the sandbox's private /tmp would hide it from claw_nb's commands,
        # whose Python would then compile its start-up modules at every command.
        cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        cache_home.mkdir(parents=True, exist_ok=True)
        pycache = tempfile.TemporaryDirectory(prefix="claw-bench-pycache-", dir=cache_home)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache.name
    claw_env = {**env, "PYTHONPATH": str(args.claw_root.resolve())}
    peer_env = {**env, "OPENAI_API_KEY": "sk-bench", "PYTHONPATH": ""}
    sandbox = "".join(
        f"{item.partition('=')[0]} = {item.partition('=')[2]}\n" for item in args.sandbox
    )
    sandbox = f"[sandbox]\n{sandbox}" if sandbox else ""
    backend = f'model_backend = "{args.backend}"\n' if args.backend else ""
    agents = [
        ("claw_nb", CLAW, claw_command(args.claw_root.resolve()), claw_env, None, backend + sandbox)
    ]
    if args.before:
        before_env = {**env, "PYTHONPATH": str(args.before.resolve())}
        before = claw_command(args.before.resolve())
        agents.append(("before", CLAW, before, before_env, None, sandbox))
    if args.peer:
        if not (Path(args.peer) / "src" / "main.py").is_file():
            raise SystemExit(f"--peer {args.peer}: no src/main.py there")
        agents.append(("peer", PEER, peer_command, peer_env, Path(args.peer), ""))

    results: dict[str, list[Run]] = {name: [] for name, *_ in agents}
    if args.bytecode:  # fill the cache; these runs are not counted
        for name, dialect, command, agent_env, cwd, settings in agents:
            run_once(name, dialect, command, args.stream, agent_env, cwd, settings, fresh)
    load_before = os.getloadavg()
    for n in range(args.runs):  # interleaved: one of each per round
        for name, dialect, command, agent_env, cwd, settings in agents:
            results[name].append(
                run_once(name, dialect, command, args.stream, agent_env, cwd, settings, fresh)
            )
        print(f"round {n + 1}/{args.runs} done", file=sys.stderr)

    load_after = os.getloadavg()
    table = {name: summarise(runs) for name, runs in results.items()}
    if "peer" not in table:
        table["peer (issue 23)"] = dict(ISSUE_23_PEER)
    mode = "streamed" if args.stream else "not streamed"
    mode += ", bytecode cached" if args.bytecode else ""
    mode += ", this user's state" if not fresh else ""
    if pycache is not None:
        pycache.cleanup()
    if args.backend:
        mode += f", claw_nb model_backend={args.backend}"
    if args.sandbox:
        mode += f", [sandbox] {', '.join(args.sandbox)}"
    print(f"\n{STEPS}-step scripted session, {mode}, medians of {args.runs} interleaved runs")
    print(
        f"load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after, "
        f"on {os.cpu_count()} CPUs"
    )
    names = list(table)
    peer = next((n for n in names if n.startswith("peer")), None)
    width = max(12, *(len(n) + 1 for n in names))
    header = f"{'':30}" + "".join(f"{n:>{width}}" for n in names)
    ours = [n for n in names if n != peer]
    header += "".join(f"{n + '/peer':>14}" for n in ours) + f"{'target':>10}"
    print(header)
    for metric in table[names[0]]:
        row = f"{metric:30}" + "".join(
            f"{table[n][metric]:>12.3f}".rstrip("0").rstrip(".").rjust(width)
            if metric in table[n]
            else f"{'-':>{width}}"
            for n in names
        )
        for n in ours:
            if table[peer].get(metric) and metric in table[n]:
                row += f"{table[n][metric] / table[peer][metric]:>13.2f}x"
            else:
                row += f"{'':>14}"
        target = PEER_TARGETS.get(metric) or (f"< {TARGETS[metric]:g}" if metric in TARGETS else "")
        row += f"{target:>10}"
        print(row.rstrip())
    if peer in results:
        for n in ours:
            print_paired(n, results[n], results[peer])
    return 0


def print_paired(name: str, ours: list[Run], peer: list[Run]) -> None:
    """Round by round (each round ran both, one after the other), the ratio of wall and CPU:
    its geometric mean with a 95% percentile-bootstrap interval, and a paired sign-flip test of
    "no difference" on the log ratios (the lab's own statistics, checked against scipy). A
    machine whose speed drifts moves both runs of a round, not their ratio."""
    import numpy as np

    from claw_nb.lab.statistics.intervals import percentile_bootstrap
    from claw_nb.lab.statistics.paired_tests import sign_flip_test

    print(f"\n{name}/peer, paired by round ({len(ours)} rounds)")
    for label, value in (("wall", lambda r: r.wall), ("CPU", lambda r: r.cpu)):
        logs = np.log([value(a) / value(b) for a, b in zip(ours, peer)])
        lo, hi = percentile_bootstrap(logs, 0.95, 10_000, seed=0)
        p_value, _ = sign_flip_test(logs)
        faster = int(np.count_nonzero(logs < 0))
        print(
            f"  {label:5} geometric mean {np.exp(logs.mean()):.3f}x (95% CI {np.exp(lo):.3f}-"
            f"{np.exp(hi):.3f}), lower in {faster} of {len(logs)} rounds, p = {p_value:.3g}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
