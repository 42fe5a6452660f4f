"""Loading tasks: Harbor directories, the built-in suite, inline JSON/YAML, SWE-bench dicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claw_nb.errors import TaskError
from claw_nb.lab.tasks import DIFFICULTIES, builtin_suite, load_tasks
from claw_nb.lab.verify import check_task
from tests.lab.lab_helpers import TASKS


def test_builtin_suite_covers_kinds_and_difficulties():
    suite = builtin_suite()
    assert len(suite) >= 25
    assert {t.difficulty for t in suite} == set(DIFFICULTIES)
    tags = {tag for t in suite for tag in t.tags}
    assert {"bugfix", "feature", "refactor", "read-code", "data", "notebook", "shell"} <= tags
    for task in suite:
        assert task.instruction and task.solution.is_file() and (task.tests / "test.sh").is_file()
        assert task.agent_timeout_sec > 0 and task.verifier_timeout_sec > 0
    assert load_tasks("builtin") == suite


def test_a_task_directory_and_a_folder_of_them(tmp_path: Path):
    root = tmp_path / "tasks" / "t1"
    (root / "tests").mkdir(parents=True)
    (root / "instruction.md").write_text("Do it.\n")
    (root / "task.toml").write_text(
        '[metadata]\ndifficulty = "hard"\ntags = ["x"]\n'
        "[agent]\ntimeout_sec = 7\n[verifier]\ntimeout_sec = 3\n"
    )
    (root / "tests" / "test.sh").write_text("echo 1 > $REWARD_DIR/reward.txt\n")
    [one] = load_tasks(root)
    assert (one.name, one.instruction, one.difficulty, one.tags) == ("t1", "Do it.", "hard", ("x",))
    assert (one.agent_timeout_sec, one.verifier_timeout_sec) == (7.0, 3.0)
    assert load_tasks(tmp_path / "tasks") == [one]


def test_a_task_without_a_verifier_is_refused(tmp_path: Path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "instruction.md").write_text("x")
    with pytest.raises(TaskError, match="test.sh"):
        load_tasks(tmp_path / "t")


def test_inline_json_and_yaml_forms(tmp_path: Path):
    from_json = load_tasks(json.dumps(TASKS))
    assert [t.name for t in from_json] == ["write-hello", "fix-number", "two-files"]
    assert (from_json[1].environment / "number.txt").read_text() == "41\n"
    assert from_json[1].solution.read_text().endswith("echo 42 > number.txt\n")
    yaml_file = tmp_path / "tasks.yaml"
    yaml_file.write_text(
        "- name: y1\n  instruction: say hi\n  difficulty: easy\n"
        "  test: echo 0 > $REWARD_DIR/reward.txt\n"
    )
    [y1] = load_tasks(yaml_file)
    assert (y1.name, y1.difficulty, y1.instruction) == ("y1", "easy", "say hi")
    with pytest.raises(TaskError, match="needs"):
        load_tasks({"name": "incomplete"})


def test_swebench_instance(tmp_path: Path):
    instance = {
        "instance_id": "acme__calc-1",
        "problem_statement": "add() subtracts",
        "files": {"calc.py": "def add(a, b):\n    return a - b\n"},
        "test_patch": (
            "--- /dev/null\n+++ b/test_calc.py\n@@ -0,0 +1,4 @@\n"
            "+from calc import add\n+\n+def test_add():\n+    assert add(2, 3) == 5\n"
        ),
        "FAIL_TO_PASS": json.dumps(["test_calc.py::test_add"]),
        "PASS_TO_PASS": [],
        "patch": (
            "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n"
            "-    return a - b\n+    return a + b\n"
        ),
    }
    [task] = load_tasks([instance])
    assert task.name == "acme__calc-1" and task.instruction == "add() subtracts"
    assert "swe-bench" in task.tags
    script = (task.tests / "test.sh").read_text()
    assert "test_calc.py::test_add" in script and "$REWARD_DIR" in script
    assert "a + b" in task.solution.read_text()
    check = check_task(task, unsandboxed=not bwrap_ok())
    assert (check.oracle_reward, check.untouched_reward, check.problems) == (1.0, 0.0, ())


def bwrap_ok() -> bool:
    from claw_nb.sandbox import bwrap_status

    return bwrap_status("bwrap")[0]
