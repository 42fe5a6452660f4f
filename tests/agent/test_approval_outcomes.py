"""What the model and the log get from an approval: the user's reason with a denial, the rule
that allowed a call, and an edit that cannot succeed answered without asking anyone."""

from __future__ import annotations

import duckdb

import claw_nb
from claw_nb.testing import call, text, tool_calls


def _options(server) -> dict:
    return {"model": "openai/scripted", "api_base": server.url, "api_key": "sk-test"}


def _tool_messages(server) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]


def test_a_denial_with_a_reason_reaches_the_model(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(call("write_file", {"path": "a.txt", "content": "x"})), text("understood")
    )
    with claw_nb.create_agent(
        workspace,
        log=False,
        approver=lambda request: "no: write it to notes.md instead",
        **_options(scripted_server),
    ) as agent:
        agent.run("write a.txt")
    (message,) = _tool_messages(scripted_server)
    assert message.startswith("Error: permission denied:")
    assert "The user says: write it to notes.md instead" in message
    assert not (workspace / "a.txt").exists()


def test_an_edit_whose_text_is_gone_is_answered_without_asking(scripted_server, workspace):
    (workspace / "a.py").write_text("x = 1\n")
    scripted_server.queue(
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "x = 2", "new_string": "x = 3"}),
            call("edit_file", {"path": "gone.py", "old_string": "a", "new_string": "b"}),
        ),
        text("I will read it again."),
    )
    asked = []
    with claw_nb.create_agent(
        workspace,
        log=False,
        approver=lambda request: asked.append(request) or "yes",
        **_options(scripted_server),
    ) as agent:
        agent.run("edit")
    assert asked == []  # nobody was asked to approve edits that cannot succeed
    not_found, missing = _tool_messages(scripted_server)
    assert "old_string was not found in 'a.py'" in not_found
    assert "Closest line" not in not_found  # the file's lines are not quoted unasked
    assert "gone.py" in missing and "permission denied" not in missing


def test_an_allowed_edit_gets_the_tools_own_fuller_error(scripted_server, workspace):
    (workspace / "a.py").write_text("alpha = 1\nbeta = 2\n")
    scripted_server.queue(
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "alpha = 9", "new_string": "x"})
        ),
        text("ok"),
    )
    with claw_nb.create_agent(
        workspace, log=False, mode="accept-edits", **_options(scripted_server)
    ) as agent:
        agent.run("edit")
    (message,) = _tool_messages(scripted_server)
    assert "Closest line(s) in the file" in message and "alpha = 1" in message


def test_a_denied_edit_is_not_tried_first(scripted_server, workspace):
    """A mode or rule that denies the call decides before the file is looked at."""
    (workspace / "a.py").write_text("x = 1\n")
    scripted_server.queue(
        tool_calls(call("edit_file", {"path": "a.py", "old_string": "nope", "new_string": "y"})),
        text("ok"),
    )
    with claw_nb.create_agent(
        workspace, log=False, mode="read-only", **_options(scripted_server)
    ) as agent:
        agent.run("edit")
    (message,) = _tool_messages(scripted_server)
    assert "permission denied" in message and "read-only" in message


def test_the_rule_that_allowed_a_call_is_logged_on_its_row(
    scripted_server, workspace, tmp_path, monkeypatch
):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # a bare pytest starts in ~1 s
    (workspace / "test_stats.py").write_text("def test_ok():\n    assert True\n")
    scripted_server.queue(
        tool_calls(call("run_command", {"command": "python -m pytest -q test_stats.py"})),
        tool_calls(call("run_command", {"command": "python -m pytest -q"})),
        tool_calls(call("edit_file", {"path": "a.py", "old_string": "q", "new_string": "r"})),
        text("done"),
    )
    db = tmp_path / "log.duckdb"
    with claw_nb.create_agent(
        workspace, db_path=db, approver=lambda r: "always", **_options(scripted_server)
    ) as agent:
        agent.run("test")
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT decision, permission_rule FROM tool_calls ORDER BY created_at"
        ).fetchall()
    first, second, edit = rows
    assert "always allow run_command(python -m pytest *)" in first[0] and first[1] is None
    assert second == (
        "allowed by rule run_command(python -m pytest *)",
        "run_command(python -m pytest *)",
    )
    assert edit == ("not asked: the call cannot succeed", None)
