"""`agent.rewind(step)`: the library puts back what a session's tool calls changed, against the
scripted model server, with the real tools and sandbox."""

from __future__ import annotations

import json

import pytest

from claw_nb.api import build_agent
from claw_nb.checkpoints import Action, CheckpointStore
from claw_nb.testing import call, text, tool_calls
from claw_nb.tools import default_tools
from claw_nb.tools.notebook import notebook_edit, notebook_read
from tests.helpers import scripted_config


@pytest.fixture
def make_agent(scripted_server, workspace, tmp_path, private_cache):
    """An agent in mode auto with the file, command and notebook tools, logging to tmp."""
    made = []

    def make(**options):
        config = scripted_config(
            scripted_server, workspace, db_path=tmp_path / "log.duckdb", **options
        )
        tools = default_tools()
        tools.add(notebook_read)
        tools.add(notebook_edit)
        agent, _log = build_agent(config, mode="auto", tools=tools)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


def user_turns(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_file_tool_edits_are_restored_and_a_new_file_is_deleted(
    make_agent, scripted_server, workspace
):
    (workspace / "a.py").write_text("x = 1\n")
    (workspace / "b.py").write_text("old b\n")
    scripted_server.queue(
        tool_calls(call("edit_file", {"path": "a.py", "old_string": "1", "new_string": "2"})),
        tool_calls(call("write_file", {"path": "b.py", "content": "new b\n"})),
        tool_calls(call("write_file", {"path": "pkg/new.py", "content": "made\n"})),
        text("done"),
    )
    agent = make_agent()
    assert agent.run("change things").ok
    assert (workspace / "pkg" / "new.py").exists()

    report = agent.rewind(0)

    assert (workspace / "a.py").read_text() == "x = 1\n"
    assert (workspace / "b.py").read_text() == "old b\n"
    assert not (workspace / "pkg" / "new.py").exists()
    done = {p.path: p.action for p in report.paths}
    assert done == {"a.py": Action.RESTORE, "b.py": Action.RESTORE, "pkg/new.py": Action.DELETE}
    assert report.ok and any("deleted" in line and "pkg/new.py" in line for line in report.lines())


def test_what_a_command_changed_is_restored(make_agent, scripted_server, workspace):
    (workspace / "conf.ini").write_text("debug = false\nlevel = 1\n")
    (workspace / "gone.txt").write_text("keep me\n")
    command = "sed -i 's/false/true/' conf.ini && echo made > made.txt && rm gone.txt"
    scripted_server.queue(tool_calls(call("run_command", {"command": command})), text("ok"))
    agent = make_agent()
    agent.run("flip the flag")
    assert (workspace / "conf.ini").read_text().startswith("debug = true")

    report = agent.rewind(0)

    assert (workspace / "conf.ini").read_text() == "debug = false\nlevel = 1\n"
    assert (workspace / "gone.txt").read_text() == "keep me\n"
    assert not (workspace / "made.txt").exists()
    assert sorted(p.path for p in report.paths) == ["conf.ini", "gone.txt", "made.txt"]
    assert all(p.tool == "run_command" for p in report.paths[0].changes)


def test_a_notebook_cell_edit_is_restored(make_agent, scripted_server, workspace):
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": 1,
                "id": "c1",
                "metadata": {},
                "outputs": [],
                "source": ["print(1)"],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    original = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (workspace / "nb.ipynb").write_text(original)
    scripted_server.queue(
        tool_calls(call("notebook_read", {"path": "nb.ipynb"})),
        tool_calls(
            call("notebook_edit", {"path": "nb.ipynb", "cell_id": "c1", "source": "print(2)"})
        ),
        text("edited"),
    )
    agent = make_agent()
    agent.run("change the cell")
    assert "print(2)" in (workspace / "nb.ipynb").read_text()

    report = agent.rewind(0)

    assert (workspace / "nb.ipynb").read_text() == original
    assert [(p.path, p.action) for p in report.paths] == [("nb.ipynb", Action.RESTORE)]


def test_a_file_changed_since_by_someone_else_is_reported_not_overwritten(
    make_agent, scripted_server, workspace
):
    (workspace / "a.py").write_text("v1\n")
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.py", "content": "v2 by the agent\n"})),
        text("done"),
    )
    agent = make_agent()
    agent.run("write a.py")
    (workspace / "a.py").write_text("v3 by the user\n")

    report = agent.rewind(0)

    assert (workspace / "a.py").read_text() == "v3 by the user\n"
    (conflict,) = report.of(Action.CONFLICT)
    assert conflict.path == "a.py" and "changed since step 1 by someone else" in conflict.why
    assert not report.ok

    forced = agent.rewind(0, force=True)
    assert (workspace / "a.py").read_text() == "v1\n"
    assert [p.action for p in forced.paths] == [Action.RESTORE]


def test_a_change_between_two_steps_of_the_session_is_a_conflict(
    make_agent, scripted_server, workspace
):
    (workspace / "a.py").write_text("one\n")

    def user_edits_then_agent_writes(request):
        (workspace / "a.py").write_text("the user's version\n")
        return tool_calls(call("write_file", {"path": "a.py", "content": "three\n"}))

    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.py", "content": "two\n"})),
        user_edits_then_agent_writes,
        text("done"),
    )
    agent = make_agent()
    agent.run("write twice")

    report = agent.rewind(0)

    assert (workspace / "a.py").read_text() == "three\n"
    (conflict,) = report.of(Action.CONFLICT)
    assert "between steps 1 and 2" in conflict.why


def test_rewind_to_a_step_keeps_the_earlier_steps_and_cuts_the_conversation(
    make_agent, scripted_server, workspace
):
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "first.txt", "content": "1"})),
        text("first done"),
        tool_calls(call("write_file", {"path": "second.txt", "content": "2"})),
        text("second done"),
        text("third answered"),
    )
    agent = make_agent()
    agent.run("task one")
    start_of_second = agent.steps
    agent.run("task two")

    report = agent.rewind(start_of_second)

    assert (workspace / "first.txt").exists() and not (workspace / "second.txt").exists()
    assert report.messages_dropped == 4  # task two, the call, its result, the answer
    agent.run("task three")
    last = scripted_server.requests[-1]
    assert user_turns(last) == ["task one", "task three"]
    assert [m["role"] for m in last["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]


def test_a_second_rewind_has_nothing_left_to_undo(make_agent, scripted_server, workspace):
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "a"})), text("done")
    )
    agent = make_agent()
    agent.run("write")
    agent.rewind(0)
    (workspace / "a.txt").write_text("made by the user afterwards")

    again = agent.rewind(0)

    assert again.paths == [] and (workspace / "a.txt").read_text() == "made by the user afterwards"


def test_checkpoints_are_kept_outside_the_workspace(
    make_agent, scripted_server, workspace, tmp_path, private_cache
):
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "secret-ish"})), text("ok")
    )
    agent = make_agent()
    agent.run("write")
    store = CheckpointStore.for_database(tmp_path / "log.duckdb")
    assert store.root.is_relative_to(private_cache)
    assert store.load(agent.session_id).changes[0].path == "a.txt"
    assert sorted(p.name for p in workspace.rglob("*") if p.is_file()) == ["a.txt"]


def test_with_checkpoints_off_rewind_says_so(make_agent, scripted_server):
    from claw_nb.checkpoints import CheckpointError

    agent = make_agent(checkpoints=False)
    with pytest.raises(CheckpointError, match="records no checkpoints"):
        agent.rewind(0)
