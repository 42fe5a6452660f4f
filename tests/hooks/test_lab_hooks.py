"""A lab trial runs in a copy of a task author's folder: hooks configured there never run."""

from __future__ import annotations

import json
import shlex

from claw_nb.lab.executors import local_executor
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.variants import Variant
from claw_nb.testing import text
from tests.lab.test_runner import query, run


def test_a_task_folder_s_hooks_never_run_in_a_trial(scripted_server, tmp_path):
    ran = tmp_path / "hook-ran"
    command = f"touch {shlex.quote(str(ran))}"
    claude = {"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": command}]}]}}
    task = {
        "name": "planted-hooks",
        "instruction": "Say hi",
        "files": {
            ".claude/settings.json": json.dumps(claude),
            ".claw/settings.toml": f"[[hooks.Stop]]\ncommand = {json.dumps(command)}\n",
        },
        "test": 'echo 1 > "$REWARD_DIR/reward.txt"\n',
    }
    scripted_server.queue(text("hi"))
    db = tmp_path / "lab.duckdb"
    run(
        scripted_server,
        db,
        load_tasks([task]),
        variants=[Variant("base")],
        executor=local_executor(1),
    )
    assert query(db, "SELECT stop_reason, reward FROM trials") == [("completed", 1.0)]
    assert not ran.exists()
