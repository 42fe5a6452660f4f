"""Task files are data someone else wrote: their paths stay inside, their numbers are bounded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from claw_nb.errors import TaskError
from claw_nb.lab.task_rules import CEILINGS, check_config
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.verify import prepare_workspace

from .test_check import lab, needs_bwrap

TEST = 'echo 0 > "$REWARD_DIR/reward.txt"\n'


def inline(**changes: object) -> dict:
    return {"name": "t", "instruction": "do it", "test": TEST, **changes}


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside every task's folder that a hostile task file aims at."""
    return tmp_path / "home" / ".bashrc"


@pytest.mark.parametrize("key", ["files", "test_files"])
def test_an_inline_task_naming_an_absolute_path_is_refused_before_writing(victim, key):
    with pytest.raises(TaskError, match="relative path inside the task"):
        load_tasks(inline(**{key: {str(victim): "echo owned\n"}}))
    assert not victim.exists()


@pytest.mark.parametrize("path", ["../../x", "a/../../x", "~/.bashrc", "a\\..\\x", ".", ""])
def test_an_inline_task_path_that_leaves_its_folder_is_refused(path: str):
    with pytest.raises(TaskError, match="relative path inside the task"):
        load_tasks(inline(files={path: "x"}))


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "/abs", "", "x" * 101, 7, "-flag"])
def test_a_task_name_must_be_a_plain_name(name: object):
    with pytest.raises(TaskError, match="not a plain name"):
        load_tasks(inline(name=name))


def test_a_swebench_id_is_a_name_too():
    with pytest.raises(TaskError, match="not a plain name"):
        load_tasks({"instance_id": "../../x", "problem_statement": "p", "files": {"a": "b"}})


def test_nested_relative_paths_still_work():
    (task,) = load_tasks(inline(files={"pkg/sub/mod.py": "X = 1\n"}))
    assert (task.environment / "pkg" / "sub" / "mod.py").read_text() == "X = 1\n"


def test_lab_check_refuses_a_hostile_inline_file_and_says_why(tmp_path: Path, victim: Path):
    spec = tmp_path / "tasks.json"
    spec.write_text(json.dumps([inline(files={"../../../x": "x", str(victim): "owned"})]))
    proc = lab("check", str(spec), "--unsandboxed", timeout=120)
    assert proc.returncode != 0
    assert "relative path inside the task" in proc.stderr
    assert not victim.exists()


# -- task folders and their links ---------------------------------------------------------------


def task_dir(root: Path, name: str = "t") -> Path:
    path = root / name
    (path / "environment").mkdir(parents=True)
    (path / "tests").mkdir()
    (path / "instruction.md").write_text("do it\n")
    (path / "tests" / "test.sh").write_text(TEST)
    return path


def test_a_link_out_of_the_task_refuses_the_task(tmp_path: Path):
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY\n")
    path = task_dir(tmp_path / "suite")
    (path / "environment" / "notes.txt").symlink_to(secret)
    with pytest.raises(TaskError, match="notes.txt.*outside.*links must stay inside"):
        load_tasks(path)


@pytest.mark.parametrize("where", ["tests/helper.py", "solution/solve.sh", "instruction.md"])
def test_a_link_out_anywhere_in_the_task_refuses_it(tmp_path: Path, where: str):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n")
    path = task_dir(tmp_path / "suite")
    (path / where).parent.mkdir(exist_ok=True)
    (path / where).unlink(missing_ok=True)
    (path / where).symlink_to(secret)
    with pytest.raises(TaskError, match="secret.txt"):
        load_tasks(path)


def test_a_linked_environment_folder_is_refused(tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = task_dir(tmp_path / "suite")
    (path / "environment").rmdir()
    (path / "environment").symlink_to(elsewhere)
    with pytest.raises(TaskError, match="environment"):
        load_tasks(path)


def test_a_link_inside_the_environment_is_copied_as_a_link(tmp_path: Path):
    path = task_dir(tmp_path / "suite")
    (path / "environment" / "data").mkdir()
    (path / "environment" / "data" / "real.txt").write_text("rows\n")
    (path / "environment" / "notes.txt").symlink_to(path / "environment" / "data" / "real.txt")
    (task,) = load_tasks(path)
    workspace = prepare_workspace(task, tmp_path / "ws")
    link = workspace / "notes.txt"
    assert link.is_symlink() and os.readlink(link) == "data/real.txt"
    assert link.read_text() == "rows\n"


def test_a_suite_entry_that_links_to_a_task_elsewhere_is_refused(tmp_path: Path):
    outside = task_dir(tmp_path, "outside")
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "t").symlink_to(outside)
    with pytest.raises(TaskError, match="link out of"):
        load_tasks(tmp_path / "suite")


@needs_bwrap
def test_lab_check_names_the_link_that_refused_a_task(tmp_path: Path):
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY\n")
    path = task_dir(tmp_path / "suite")
    (path / "environment" / "notes.txt").symlink_to(secret)
    proc = lab("check", str(path), timeout=120)
    assert proc.returncode != 0
    assert "notes.txt" in proc.stderr and "PRIVATE KEY" not in proc.stdout + proc.stderr


# -- task.toml numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["inf", "-inf", "nan", "1e308", "-5", "0", "true", "'60'", "86401"]
)
def test_a_task_toml_timeout_out_of_range_is_refused_naming_key_and_range(
    tmp_path: Path, value: str
):
    path = task_dir(tmp_path / "suite")
    (path / "task.toml").write_text(f"[agent]\ntimeout_sec = {value}\n")
    with pytest.raises(TaskError) as caught:
        load_tasks(path)
    message = str(caught.value)
    assert "agent.timeout_sec" in message and "from 1 to 86400" in message
    assert "\n" not in message


def test_the_verifier_timeout_has_its_own_ceiling(tmp_path: Path):
    path = task_dir(tmp_path / "suite")
    (path / "task.toml").write_text("[verifier]\ntimeout_sec = 1e308\n")
    with pytest.raises(
        TaskError, match=r"verifier.timeout_sec = 1e\+308: give a number from 1 to 3600"
    ):
        load_tasks(path)


def test_every_other_number_in_task_toml_is_bounded_too(tmp_path: Path):
    with pytest.raises(TaskError, match="metadata.expert_minutes"):
        check_config({"metadata": {"expert_minutes": float("inf")}}, "t/task.toml")
    with pytest.raises(TaskError, match="environment.cpus"):
        check_config({"environment": {"cpus": 10_000}}, "t/task.toml")
    check_config({"metadata": {"expert_minutes": 30, "tags": ["a"]}}, "t/task.toml")


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e308, -1, True])
def test_inline_timeouts_are_bounded_before_writing(value: object):
    with pytest.raises(TaskError, match="verifier_timeout_sec"):
        load_tasks(inline(name="bounded", verifier_timeout_sec=value))


def test_the_shipped_suite_is_within_the_ceilings():
    from claw_nb.lab.tasks import builtin_suite

    lo, hi = CEILINGS[("verifier", "timeout_sec")]
    assert all(lo <= t.verifier_timeout_sec <= hi for t in builtin_suite())


def test_lab_check_refuses_an_infinite_verifier_timeout_in_one_line(tmp_path: Path):
    path = task_dir(tmp_path / "suite")
    (path / "task.toml").write_text("[verifier]\ntimeout_sec = inf\n")
    proc = lab("check", str(path), "--unsandboxed", timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0
    assert "verifier.timeout_sec = inf: give a number from 1 to 3600" in proc.stderr


def test_the_task_cache_refuses_a_folder_it_does_not_own(tmp_path: Path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / f"claw-lab-tasks-{os.getuid()}").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(TaskError, match="not a private folder"):
        load_tasks(inline(name="cached"))
    assert not any((tmp_path / "elsewhere").iterdir())
