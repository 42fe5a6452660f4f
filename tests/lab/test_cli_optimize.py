"""`claw-nb lab optimize compare|sweep|reflect|adopt|show` as real subprocesses against the
scripted server: the printed figures are the log's and `claw_nb.lab.statistics`'s."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from claw_nb.lab import statistics
from claw_nb.lab.optimize.sweep_grid import with_fragments
from claw_nb.lab.store import load_results
from claw_nb.log.database import DEFAULT_TIMEOUT, open_database
from claw_nb.prompts import template_text
from claw_nb.testing import delay, text
from claw_nb.testing.lab_demo import HABIT_FORMAT, HABIT_WRITE, demo_task_specs, scripted_agent
from tests.helpers import scripted_env
from tests.lab.test_runner import UNSANDBOXED

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ["--unsandboxed"] if UNSANDBOXED else []


def optimize(*args: str, env: dict, cwd: Path = ROOT, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "claw_nb", "lab", "optimize", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(cwd),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def interrupted(args: list[str], env: dict, ready: Callable[[], bool]) -> str:
    """`optimize ARGS` Ctrl-C'ed once `ready()` holds (or two minutes passed) while it runs; it
    must exit 130. Its stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "claw_nb", "lab", "optimize", *args],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    return err


def query(db: Path, sql: str, *params) -> list[tuple]:
    con, _ = open_database(db, read_only=True, timeout=DEFAULT_TIMEOUT)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.fixture
def world(scripted_server, tmp_path: Path):
    """Six demo tasks (2 easy, 2 medium, 2 hard), variant files, the env of the subprocesses."""
    scripted_server.default = scripted_agent
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(demo_task_specs(6)))
    template = template_text("default")
    files = {}
    for name, habits in (("write", [HABIT_WRITE]), ("both", [HABIT_WRITE, HABIT_FORMAT])):
        files[name] = tmp_path / f"{name}.toml"
        files[name].write_text(f"system_prompt = {json.dumps(with_fragments(template, habits))}\n")
    env = {**scripted_env(scripted_server), "CLAW_DB": str(tmp_path / "lab.duckdb")}
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return {
        "server": scripted_server,
        "tasks": str(tasks),
        "files": files,
        "env": env,
        "db": tmp_path / "lab.duckdb",
        "ws": workspace,
    }


def printed_rows(stdout: str, variants: list[str]) -> dict[str, dict[str, str]]:
    """The report's table: header line, then one row per variant (names without spaces)."""
    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:2] == ["variant", "trials"])
    header = lines[at].split()
    rows = {}
    for line in lines[at + 1 : at + 1 + len(variants)]:
        words = line.split()
        rows[words[0]] = dict(zip(header, words))
    assert set(rows) == set(variants)
    return rows


def same(printed: str, value) -> bool:
    if isinstance(value, (bool,)) or str(value) in ("True", "False"):
        return printed == str(bool(value))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return printed == "NaN"
    return float(printed) == pytest.approx(float(value), rel=1e-3, abs=1e-4)


def test_compare_prints_the_statistics_the_log_gives_then_show_and_adopt(world):
    variants = ["base", "write", "both"]
    proc = optimize(
        "compare",
        world["tasks"],
        "--variant",
        "base",
        "--variant",
        f"write={world['files']['write']}",
        "--variant",
        f"both={world['files']['both']}",
        "--name",
        "abc",
        "--yes",
        *SANDBOX,
        env=world["env"],
    )
    assert proc.returncode == 0, proc.stderr
    plan = proc.stdout.splitlines()[0]
    assert plan.startswith("compare 'abc': 3 variants x 6 tasks x 1 repeat(s) = 18 trials")
    assert "both / demo-cedar #0: reward 1" in proc.stderr  # live progress lines
    assert "write / demo-cedar #0: reward 0" in proc.stderr

    results = load_results(world["db"], "abc")
    assert len(results) == 18
    board = statistics.leaderboard(results, baseline="base").set_index("variant")
    rows = printed_rows(proc.stdout, variants)
    for name in variants:
        for column in ("trials", "pass_rate", "lo", "hi", "diff", "diff_lo", "diff_hi"):
            assert same(rows[name][column], board.loc[name, column]), (name, column)
        for column in ("p_value", "p_holm", "wins", "losses", "ties", "small_sample"):
            assert same(rows[name][column], board.loc[name, column]), (name, column)
    # What the DuckDB file holds: one 0/1 run per task, so a pass rate is the mean reward.
    rates = dict(
        query(
            world["db"],
            "SELECT variant, avg(reward) FROM trials WHERE experiment = 'abc' GROUP BY variant",
        )
    )
    assert rates == {"base": 0.0, "write": pytest.approx(4 / 6), "both": 1.0}
    assert rows["both"]["wins"] == "6" and rows["both"]["small_sample"] == "True"
    assert "best: both" in proc.stdout and "small sample" in proc.stdout
    assert query(world["db"], "SELECT kind, status, best_candidate FROM optimizer_runs") == [
        ("compare", "done", "both")
    ]

    shown = optimize("show", "abc", env=world["env"])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].startswith("compare run 'abc' (done, started ")
    assert printed_rows(shown.stdout, variants) == rows
    listing = optimize("show", env=world["env"])
    assert listing.stdout.split("\n")[1].split()[:2] == ["abc", "compare"]

    adopted = optimize("adopt", "abc", env=world["env"], cwd=world["ws"])
    assert adopted.returncode == 0, adopted.stderr
    variant_file = world["ws"] / ".claw/prompts/both.toml"
    assert "adopted: wrote" in adopted.stdout and variant_file.is_file()
    assert HABIT_FORMAT in (world["ws"] / ".claw/prompts/both.md").read_text()
    assert (
        'prompt_name = ".claw/prompts/both.md"' in (world["ws"] / ".claw/settings.toml").read_text()
    )
    picked = optimize("adopt", "abc", "--pick", "write", "--as", "w2", env=world["env"])
    assert picked.returncode == 0 and "w2.toml" in picked.stdout


def test_sweep_over_a_setting_and_a_fragment(world, tmp_path: Path):
    fragment = tmp_path / "write.md"
    fragment.write_text(HABIT_WRITE + "\n")
    proc = optimize(
        "sweep",
        world["tasks"],
        "--set",
        "max_steps=3",
        "--fragment",
        f"write=@{fragment}",
        "--name",
        "grid",
        "--yes",
        *SANDBOX,
        env=world["env"],
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sweep 'grid': 3 variants x 6 tasks x 1 repeat(s) = 18 trials")
    board = statistics.leaderboard(load_results(world["db"], "grid"), baseline="base")
    assert list(board["variant"]) == ["steps=3 +write", "base", "steps=3"]
    for row in board.itertuples():
        line = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith(row.variant))
        assert f" {row.pass_rate:.4g} " in line
    assert "--as NAME" in proc.stdout  # a sweep variant's name is no prompt name


def test_ctrl_c_stops_with_a_resume_line_and_the_same_name_resumes(world):
    slow = "demo-delta"

    def reply(request):
        first = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if "word delta" in first and request["messages"][-1]["role"] != "tool":
            return delay(4, text("too late"))
        return scripted_agent(request)

    world["server"].default = reply
    args = [
        "compare",
        world["tasks"],
        "--variant",
        "base",
        "--variant",
        f"write={world['files']['write']}",
        "--name",
        "resumable",
        "--slots",
        "1",
        "--yes",
        *SANDBOX,
    ]
    err = interrupted(
        args,
        world["env"],
        lambda: any(
            "word delta" in json.dumps(r["messages"][1:2]) for r in world["server"].requests
        ),
    )
    assert "to resume, run the same command again with --name resumable" in err
    before = {(r.variant, r.task) for r in load_results(world["db"], "resumable")}
    assert 0 < len(before) < 12 and ("base", slow) not in before
    assert query(world["db"], "SELECT status FROM optimizer_runs") == [("stopped",)]
    refused = optimize("adopt", "resumable", env=world["env"], cwd=world["ws"])
    assert refused.returncode == 2 and "stopped before it finished" in refused.stderr

    world["server"].default = scripted_agent
    again = optimize(*args, env=world["env"])
    assert again.returncode == 0, again.stderr
    assert f"({len(before)} already in the log, {12 - len(before)} to run)" in again.stdout
    keys = [(r.variant, r.task, r.repeat) for r in load_results(world["db"], "resumable")]
    assert len(keys) == len(set(keys)) == 12  # every trial once
    assert query(world["db"], "SELECT status, best_candidate FROM optimizer_runs") == [
        ("done", "write")
    ]


def test_bad_input_gets_one_line(world, tmp_path: Path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    cases = {
        "variant file": (
            ["compare", world["tasks"], "--variant", "a", "--variant", "b=nope.toml", "--yes"],
            "variant file nope.toml does not exist",
        ),
        "one variant": (
            ["compare", world["tasks"], "--variant", "a", "--yes"],
            "compare needs two or more --variant",
        ),
        "budget": (
            ["reflect", world["tasks"], "--budget", "3", "--yes"],
            "--budget 3 is below one round of the search",
        ),
        "no tasks": (
            ["sweep", str(empty), "--set", "temperature=0,1", "--yes"],
            "no tasks in",
        ),
        "adopt unknown": (["adopt", "nope"], "no optimizer run 'nope'"),
        "show unknown": (["show", "nope"], "no optimizer run 'nope'"),
    }
    for label, (args, message) in cases.items():
        proc = optimize(*args, env=world["env"])
        assert proc.returncode == 2, (label, proc.stdout, proc.stderr)
        assert message in proc.stderr, (label, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (label, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_without_a_terminal_it_needs_yes_and_dry_run_only_plans(world):
    args = ["compare", world["tasks"], "--variant", "a", "--variant", "b", "--name", "n"]
    refused = optimize(*args, env=world["env"])
    assert refused.returncode == 2
    assert refused.stdout.startswith("compare 'n': 2 variants x 6 tasks")
    assert refused.stderr.strip() == (
        "claw-nb lab optimize: not started: pass --yes to run without a terminal"
    )
    planned = optimize(*args, "--dry-run", env=world["env"])
    assert planned.returncode == 0 and "smallest difference this can detect" in planned.stdout
    assert world["server"].requests == []  # nothing ran


def test_reflect_from_the_command_line_then_show_and_adopt(world, tmp_path: Path):
    pytest.importorskip("gepa", reason="reflect needs the optional gepa package ([optimize])")
    from claw_nb.testing.lab_demo import scripted_reflection

    world["server"].default = scripted_reflection(["think", "write"])
    specs = [s for s in demo_task_specs(18) if s["difficulty"] != "hard"]  # HABIT_WRITE suffices
    tasks = tmp_path / "easy.json"
    tasks.write_text(json.dumps(specs))
    names = [s["name"] for s in specs]  # 12 tasks: 7 held out, so 7 wins can be significant
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": names[:3], "val": names[3:5], "held_out": names[5:]}))
    # seed on val (2) + the rejected 'think' (the parent on 3 train tasks) + the 'write'
    # proposal (parent and child on 3 train tasks, 2 validation) = 13.
    proc = optimize(
        "reflect",
        str(tasks),
        "--split",
        str(split),
        "--budget",
        "13",
        "--held-out-repeats",
        "1",
        "--name",
        "r1",
        "--yes",
        *SANDBOX,
        env=world["env"],
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("reflect 'r1': 27 rollouts (13 search + 14 held-out check)")
    assert "reflect: proposal for system_prompt rejected by a guard:" in proc.stderr
    assert "reflect: validation score 1.00 (best so far 1.00)" in proc.stderr
    assert "rejected by a guard: 1" in proc.stdout
    held = load_results(world["db"], "r1/held-out")
    comparison = statistics.compare_variants(held, "seed", "winner").attrs["comparison"]
    assert f"the gain holds on held-out tasks: {comparison.summary()}" in proc.stdout
    assert "+" + HABIT_WRITE in proc.stdout  # the diff of the winning prompt

    shown = optimize("show", "r1", env=world["env"])
    assert shown.returncode == 0, shown.stderr
    assert f"holds on held-out tasks: {comparison.summary()}" in shown.stdout
    adopted = optimize("adopt", "r1", "--as", "tuned", env=world["env"], cwd=world["ws"])
    assert adopted.returncode == 0, adopted.stderr
    assert HABIT_WRITE in (world["ws"] / ".claw/prompts/tuned.md").read_text()
    assert (world["ws"] / ".claw/prompts/tuned.toml").is_file()


def test_on_a_terminal_it_asks_before_starting(world):
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "claw_nb", "lab", "optimize", "compare", world["tasks"]]
        + ["--variant", "a", "--variant", "b", "--name", "asked"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=world["env"],
        cwd=str(ROOT),
    )
    os.close(slave)
    seen, answered = b"", False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"start? [y/N]" in seen:
            os.write(master, b"n\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    os.close(master)
    assert proc.wait(timeout=30) == 0
    assert answered and b"not started" in seen.split(b"start? [y/N]")[1]
    assert world["server"].requests == []


def test_reflect_interrupted_then_resumed_by_name(world, tmp_path: Path):
    pytest.importorskip("gepa", reason="reflect needs the optional gepa package ([optimize])")
    from claw_nb.testing.lab_demo import scripted_reflection

    propose = scripted_reflection(["write"])
    asked = []

    def slow_reflection(request):
        if not request.get("tools"):  # the reflection model's call: Ctrl-C lands in it
            asked.append(1)
            return delay(4, text("```\nunused\n```"))
        return propose(request)

    world["server"].default = slow_reflection
    specs = [s for s in demo_task_specs(18) if s["difficulty"] != "hard"]
    tasks = tmp_path / "easy.json"
    tasks.write_text(json.dumps(specs))
    names = [s["name"] for s in specs]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": names[:3], "val": names[3:5], "held_out": names[5:]}))
    args = ["reflect", str(tasks), "--split", str(split), "--budget", "10"]
    args += ["--held-out-repeats", "1", "--name", "again", "--yes", *SANDBOX]
    err = interrupted(args, world["env"], lambda: bool(asked))
    assert "to resume, run the same command again with --name again" in err
    assert "Traceback" not in err
    assert query(world["db"], "SELECT status FROM optimizer_runs") == [("stopped",)]
    trials_before = len(load_results(world["db"], "again"))

    world["server"].default = propose
    resumed = optimize(*args, env=world["env"])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("reflect 'again' (resuming): 24 rollouts")
    assert "the gain holds on held-out tasks" in resumed.stdout
    steps = [s for (s,) in query(world["db"], "SELECT status FROM optimizer_steps ORDER BY step")]
    assert steps[0] == "seed" and "stopped" in steps and "resumed" in steps
    keys = [(r.variant, r.task, r.repeat) for r in load_results(world["db"], "again")]
    assert len(keys) == len(set(keys)) > trials_before  # nothing run twice


def test_a_sweep_over_tools_with_a_prompt_budget_plans_without_the_variants_over_it(world):
    from claw_nb.lab.optimize.budget import BaseRequestCounter
    from claw_nb.lab.variants import Variant

    counter = BaseRequestCounter()
    cap = counter.count(
        Variant("x", tools=tuple(n for n in Variant("y").tool_registry().names() if n != "grep"))
    ).tokens
    proc = optimize(
        "sweep",
        world["tasks"],
        "--drop-tool",
        "grep",
        "--set",
        "descriptions=full,short",
        "--max-prompt-tokens",
        str(counter.count(Variant("base")).tokens),
        "--dry-run",
        env=world["env"],
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sweep '")  # every variant is no larger than the base
    assert "over budget" not in proc.stdout
    lean = Path(str(world["tasks"])).parent / "lean.toml"
    lean.write_text('tools = ["read_file", "write_file"]\n')
    base_tokens = counter.count(Variant.from_file("lean", lean)).tokens
    grown = optimize(
        "sweep",
        world["tasks"],
        "--base",
        f"lean={lean}",
        "--add-tool",
        "grep",
        "--max-prompt-tokens",
        str(base_tokens),
        "--dry-run",
        env=world["env"],
    )
    assert grown.returncode == 0, grown.stderr
    assert "1 variants x 6 tasks" in grown.stdout  # the base alone runs
    assert "over budget, not run: +grep (over budget: the base request is" in grown.stdout
    tight = optimize(
        "sweep",
        world["tasks"],
        "--base",
        "base",
        "--drop-tool",
        "grep",
        "--max-prompt-tokens",
        str(cap - 1),
        "--dry-run",
        env=world["env"],
    )
    assert tight.returncode == 2
    assert (
        "the base variant 'base' is" in tight.stderr and "raise --max-prompt-tokens" in tight.stderr
    )
    assert len(tight.stderr.strip().splitlines()) == 1
    assert world["server"].requests == []
