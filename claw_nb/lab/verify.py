"""Workspaces and verifiers: copy a task's files in, run its tests/test.sh, read the reward.

The verifier runs after the agent stopped, in the same sandbox (bubblewrap, no network) with
the task's tests copied into ``.lab/tests`` of the workspace (so the agent never saw them) and
``$REWARD_DIR`` at ``.lab/reward``. Its script sees ``$WORKSPACE``, ``$TESTS_DIR``,
``$REWARD_DIR``, ``$PYTHON`` (this interpreter, which has pytest and pandas), ``$LAB_PYTEST``
(pytest isolated from the workspace: run it as ``"$PYTHON" -I "$LAB_PYTEST"``, see
`claw_nb.lab.isolated_pytest`) and ``$LAB_PYTEST_INI`` (the task's tests/pytest.ini, or an
empty one). A verifier that crashes, times out or writes no number scores 0, with the reason
kept. The host reads what it wrote (reward.txt, pytest.txt) without following a link and only so much of it.

`check_tasks` is ``claw-nb lab check``: the oracle (solution/solve.sh) must score 1 and the
untouched workspace 0, or the task is refused.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from claw_nb.errors import SandboxRequired
from claw_nb.lab.tasks import Task
from claw_nb.records import record
from claw_nb.untrusted import (
    UntrustedPathRefused,
    copy_untrusted_tree,
    read_untrusted,
    read_untrusted_text,
)

LAB_DIR = ".lab"
MAX_OUTPUT_CHARS = 8000
MAX_REWARD_BYTES = 4096
MAX_LOG_BYTES = 1024 * 1024  # of the verifier's pytest.txt, before it is clipped


@record(frozen=True)
class Verdict:
    """What a verifier said: the reward, its output (clipped) and why it failed, if it did."""

    reward: float
    output: str
    error: str | None = None


def make_runner(workspace: Path, *, unsandboxed: bool, network: bool = False) -> Any:
    """The command runner for a trial: bubblewrap with no network, or plain if allowed.

    Raises :class:`SandboxRequired` when bubblewrap is unusable and ``unsandboxed`` is False.
    """
    from claw_nb.sandbox import SandboxSettings
    from claw_nb.sandbox import make_runner as sandbox_runner

    if unsandboxed:
        return sandbox_runner(SandboxSettings(enabled=False), workspace)
    require_sandbox()
    return sandbox_runner(SandboxSettings(network=network), workspace)


def require_sandbox() -> None:
    """Raise :class:`SandboxRequired` unless bubblewrap works here."""
    from claw_nb.sandbox import SandboxSettings, bwrap_status

    ok, reason = bwrap_status(SandboxSettings().bwrap_path)
    if not ok:
        raise SandboxRequired(
            f"the lab runs every trial in bubblewrap, which is unusable here ({reason}). "
            "Install bubblewrap, or run without a sandbox on purpose: lab.run(..., "
            "unsandboxed=True) / `claw-nb lab run --unsandboxed`."
        )


def prepare_workspace(task: Task, workspace: Path) -> Path:
    """Copy the task's environment into ``workspace`` (created; must not exist or be empty),
    links as links and only those that stay inside it (`copy_untrusted_tree`)."""
    workspace.mkdir(parents=True, exist_ok=True)
    if task.environment is not None and task.environment.is_dir():
        copy_untrusted_tree(task.environment, workspace)
    return workspace


def _fresh_lab(workspace: Path) -> Path:
    """``.lab`` made anew: whatever the agent put there (a folder, a file, a link) is gone."""
    lab = workspace / LAB_DIR
    if lab.is_symlink() or (lab.exists() and not lab.is_dir()):
        lab.unlink()
    elif lab.exists():
        shutil.rmtree(lab)
    lab.mkdir()
    return lab


def run_verifier(task: Task, workspace: Path, runner: Any) -> Verdict:
    """Run the task's tests/test.sh on ``workspace``; the reward it wrote (0 on any failure)."""
    if task.tests is None or not task.tests.is_dir():
        return Verdict(0.0, "", f"task {task.name} has no tests directory")
    lab = _fresh_lab(workspace)  # the agent may have made one: the verifier's own files win
    tests, reward_dir = lab / "tests", lab / "reward"
    copy_untrusted_tree(task.tests, tests)
    reward_dir.mkdir()
    launcher = lab / "isolated_pytest.py"
    launcher.write_text(
        resources.files("claw_nb.lab").joinpath("isolated_pytest.py").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    ini = tests / "pytest.ini"
    if ini.is_symlink() or not ini.is_file():
        ini = lab / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
    result = _run_script(
        runner,
        workspace,
        tests / "test.sh",
        task.verifier_timeout_sec,
        {
            "TESTS_DIR": tests,
            "REWARD_DIR": reward_dir,
            "LAB_PYTEST": launcher,
            "LAB_PYTEST_INI": ini,
        },
    )
    output = _clip(result.stdout + ("\n" + result.stderr if result.stderr.strip() else ""))
    try:
        extra = read_untrusted(reward_dir, "pytest.txt", max_bytes=MAX_LOG_BYTES)
    except UntrustedPathRefused as exc:
        extra, output = None, _clip(f"{output}\n[pytest.txt not read: {exc}]")
    if extra is not None:
        output = _clip(output + "\n" + extra.decode("utf-8", errors="replace"))
    if result.timed_out:
        return Verdict(0.0, output, f"verifier timed out after {task.verifier_timeout_sec:g} s")
    try:
        text = read_untrusted_text(reward_dir, "reward.txt", max_bytes=MAX_REWARD_BYTES)
    except UntrustedPathRefused as exc:
        return Verdict(0.0, output, f"verifier's reward.txt not read: {exc}")
    if text is None:
        return Verdict(0.0, output, f"verifier wrote no reward.txt (exit {result.exit_code})")
    text = text.strip()
    try:
        reward = float(text.split()[0])
    except (ValueError, IndexError):
        return Verdict(0.0, output, f"verifier wrote {text[:80]!r} to reward.txt, not a number")
    if not 0.0 <= reward <= 1.0:
        return Verdict(
            min(max(reward, 0.0), 1.0), output, f"verifier wrote {reward:g}, outside 0..1; clamped"
        )
    return Verdict(reward, output, None)


def run_oracle(task: Task, workspace: Path, runner: Any, timeout: float = 120.0) -> str | None:
    """Run solution/solve.sh in ``workspace``; None if it ran cleanly, else what went wrong."""
    if task.solution is None or not task.solution.is_file():
        return "no solution/solve.sh"
    try:
        text = read_untrusted(task.solution.parent, task.solution.name, max_bytes=MAX_LOG_BYTES)
    except UntrustedPathRefused as exc:
        return f"solution/solve.sh not read: {exc}"
    script = _fresh_lab(workspace) / "solve.sh"
    script.write_bytes(text or b"")
    result = _run_script(runner, workspace, script, timeout, {})
    shutil.rmtree(workspace / LAB_DIR, ignore_errors=True)
    if result.timed_out or result.exit_code != 0:
        return f"solve.sh exited {result.exit_code}: {_clip(result.stderr or result.stdout, 400)}"
    return None


def _run_script(
    runner: Any, workspace: Path, script: Path, timeout: float, env: dict[str, Path | str]
) -> Any:
    variables = {"WORKSPACE": workspace, "PYTHON": Path(sys.executable), **env}
    assignments = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in variables.items())
    return runner.run(f"{assignments} bash {shlex.quote(str(script))}", workspace, timeout)


def _clip(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


# -- lab check --------------------------------------------------------------------------------------


@record(frozen=True)
class TaskCheck:
    """`lab check` for one task: the oracle's reward, the untouched workspace's, and problems."""

    task: str
    oracle_reward: float
    untouched_reward: float
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_task(task: Task, *, unsandboxed: bool = False) -> TaskCheck:
    """Run ``task``'s verifier on the oracle's result (must be 1) and on the untouched
    workspace (must be 0)."""
    problems: list[str] = []
    rewards = []
    with tempfile.TemporaryDirectory(prefix=f"claw-check-{task.name[:20]}-") as tmp:
        for solved in (True, False):
            workspace = prepare_workspace(task, Path(tmp) / ("solved" if solved else "untouched"))
            runner = make_runner(workspace, unsandboxed=unsandboxed)
            if solved:
                failure = run_oracle(task, workspace, runner)
                if failure:
                    problems.append(f"oracle failed: {failure}")
            verdict = run_verifier(task, workspace, runner)
            rewards.append(verdict.reward)
            want = 1.0 if solved else 0.0
            if verdict.reward != want:
                which = "the oracle's solution" if solved else "the untouched workspace"
                why = f" ({verdict.error})" if verdict.error else ""
                tail = verdict.output.strip().splitlines()[-3:]
                problems.append(
                    f"{which} scored {verdict.reward:g}, not {want:g}{why}"
                    + (": " + " | ".join(tail) if tail else "")
                )
    return TaskCheck(task.name, rewards[0], rewards[1], tuple(problems))


def check_tasks(
    tasks: Iterable[Task],
    *,
    unsandboxed: bool = False,
    workers: int = 2,
    on_result: Callable[[TaskCheck], None] | None = None,
) -> list[TaskCheck]:
    """`check_task` for every task (``workers`` at a time), in the tasks' order."""
    from concurrent.futures import ThreadPoolExecutor

    tasks = list(tasks)
    if not unsandboxed:
        require_sandbox()
    results: list[TaskCheck | None] = [None] * len(tasks)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {
            pool.submit(check_task, t, unsandboxed=unsandboxed): i for i, t in enumerate(tasks)
        }
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if on_result is not None:
                on_result(result)
    return [r for r in results if r is not None]
