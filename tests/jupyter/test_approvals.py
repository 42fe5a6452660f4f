"""Approvals in the notebook (issue 25): "Always allow" says the rule it adds and adds no more;
a call a rule allowed says which; `%claw rules` lists and drops them; cards summarise their
arguments; a denied edit keeps its diff; Deny carries a reason; an edit that cannot succeed is
not asked about; a text transcript's denial names what would let the call run."""

from __future__ import annotations

from functools import partial

import duckdb
import pytest

from claw_nb.testing import call, text, tool_calls
from tests.helpers import wait_until
from tests.jupyter.test_magics import cell, magics
from tests.notebook_shell import claw_shell, keep_displays

PYTEST = "python -m pytest -q test_stats.py"
EXPLOIT = "python -c \"import os; os.remove('test_stats.py')\""


@pytest.fixture
def shell(claw_env, monkeypatch):
    """tests/conftest.py's shell, whose sandboxed pytest starts fast."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    with claw_shell(monkeypatch, claw_env.workspace) as sh:
        yield sh


@pytest.fixture
def widget_shell(widget_shell, monkeypatch):
    """tests/conftest.py's widget_shell, what it would display kept by display id."""
    widget_shell.shown = keep_displays(monkeypatch)
    return widget_shell


_wait = partial(wait_until, timeout=60.0)


class Clicker:
    """Answers each new approval card of a view, and keeps what each card said."""

    def __init__(self, view):
        self.view, self.prompts = view, []

    def answer(self, label: str, reason: str = "") -> str:
        def new_card():
            children = self.view.approval.children
            return len(children) == 2 and children[0] not in self.prompts

        _wait(new_card)
        prompt, row = self.view.approval.children
        self.prompts.append(prompt)
        row.children[-1].value = reason  # the Deny reason box
        next(b for b in row.children if getattr(b, "description", "") == label).click()
        return prompt.value


def _cards(view) -> list[str]:
    return [c.value for c in view.body.children if "claw-card" in getattr(c, "value", "")]


def _tool_messages(server) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]


# -- the exploit, end to end ----------------------------------------------------------------


def test_always_on_pytest_does_not_let_python_c_delete_the_file(widget_shell, claw_env):
    ws = claw_env.workspace
    (ws / "test_stats.py").write_text("def test_ok():\n    assert True\n")
    claw_env.server.queue(
        tool_calls(call("run_command", {"command": PYTEST})),
        tool_calls(call("run_command", {"command": EXPLOIT})),
        tool_calls(call("run_command", {"command": "python -m pytest -q"})),
        text("done"),
    )
    m = magics(widget_shell)
    cell(widget_shell, "", "run the tests")
    view = m.last_view
    clicker = Clicker(view)
    first = clicker.answer("Always allow")
    assert "Always allow <code>run_command(python -m pytest *)</code>" in first
    second = clicker.answer("Deny", "do not delete files")  # python -c asked: no wildcard
    assert "Always allow <code>run_command(python -c &quot;import os;" in second
    _wait(lambda: not m._busy())
    assert (ws / "test_stats.py").exists()
    assert len(clicker.prompts) == 2  # the third call, python -m pytest -q, ran by the rule
    cards = _cards(view)
    assert "allowed by rule run_command(python -m pytest *)" in cards[2]
    assert "allowed by rule" not in cards[0] + cards[1]
    assert "denied" in cards[1]
    denied = _tool_messages(claw_env.server)[1]
    assert "The user says: do not delete files" in denied
    # the rule is on the call's row in the log too
    m._close_log()
    with duckdb.connect(str(claw_env.db), read_only=True) as con:
        rules = con.execute("SELECT permission_rule FROM tool_calls ORDER BY created_at").fetchall()
    assert rules == [(None,), (None,), ("run_command(python -m pytest *)",)]


# -- %claw rules ------------------------------------------------------------------------------


def test_claw_rules_lists_where_rules_live_and_drops_a_conversation_rule(
    widget_shell, claw_env, capsys
):
    ws = claw_env.workspace
    (ws / ".claw").mkdir()
    (ws / ".claw" / "settings.toml").write_text('[permissions]\nallow = ["run_command(ruff *)"]\n')
    claw_env.server.queue(
        tool_calls(call("run_command", {"command": "git status"})),
        text("first"),
        tool_calls(call("run_command", {"command": "git status --short"})),
        text("second"),
        tool_calls(call("run_command", {"command": "git status"})),
        text("third"),
    )
    m = magics(widget_shell)
    cell(widget_shell, "", "status")
    Clicker(m.last_view).answer("Always allow")
    _wait(lambda: not m._busy())
    cell(widget_shell, "", "status again")  # allowed by the rule: nobody asked
    _wait(lambda: not m._busy())
    assert "allowed by rule run_command(git status *)" in _cards(m.last_view)[0]
    capsys.readouterr()
    cell(widget_shell, "rules")
    listing = capsys.readouterr().out
    assert "1. allow run_command(ruff *)" in listing and "saved in the settings" in listing
    assert "2. allow run_command(git status *)" in listing and "this conversation" in listing
    with pytest.raises(Exception, match="saved in the settings"):
        cell(widget_shell, "rules drop 1")
    cell(widget_shell, "rules drop 2")
    assert "dropped run_command(git status *)" in capsys.readouterr().out
    cell(widget_shell, "", "status once more")
    view = m.last_view
    Clicker(view).answer("Approve")  # dropped: it asks again
    _wait(lambda: not m._busy())


# -- cards ------------------------------------------------------------------------------------


def test_a_card_header_is_one_line_gist_with_the_arguments_folded(widget_shell, claw_env):
    ws = claw_env.workspace
    (ws / "cli.py").write_text("a\nb\nc\n")
    old, new = "a\nb\nc\n", "a\nB\nc\nd\ne\n"
    claw_env.server.queue(
        tool_calls(call("edit_file", {"path": "cli.py", "old_string": old, "new_string": new})),
        tool_calls(call("run_command", {"command": "echo " + "word " * 40})),
        text("done"),
    )
    m = magics(widget_shell)
    cell(widget_shell, "--mode auto", "edit")
    _wait(lambda: not m._busy())
    edit, command = _cards(m.last_view)
    header = edit.split('<code class="claw-card-gist">')[1].split("</code>")[0]
    assert header == "cli.py (-1 +3 lines)"
    assert "old_string=" not in edit
    assert '<details class="claw-card-arguments">' in edit and "old_string:" in edit
    gist = command.split('<code class="claw-card-gist">')[1].split("</code>")[0]
    assert gist.startswith("echo word word") and gist.endswith("word\u2026")
    assert len(gist) <= 100 and "\n" not in gist
    assert "claw-card-arguments" not in command  # the header says it all but the tail


def test_a_denied_edit_keeps_its_diff_on_the_card_and_in_the_static_copy(widget_shell, claw_env):
    ws = claw_env.workspace
    (ws / "a.py").write_text("x = 1\n")
    claw_env.server.queue(
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"})
        ),
        text("ok, left alone"),
    )
    m = magics(widget_shell)
    cell(widget_shell, "", "set x to 2")
    view = m.last_view
    prompt = Clicker(view).answer("Deny")
    assert "Always allow <code>edit_file(a.py)</code>" in prompt
    assert "%%claw --mode accept-edits" in prompt
    _wait(lambda: not m._busy())
    (card,) = _cards(view)
    assert "proposed change (not made)" in card and "+x = 2" in card
    assert (ws / "a.py").read_text() == "x = 1\n"
    static = widget_shell.shown[f"claw-static-{view.run_id}"]["text/markdown"]
    assert "proposed change (not made)" in static and "+x = 2" in static


def test_an_edit_that_cannot_succeed_is_not_asked_about(widget_shell, claw_env):
    ws = claw_env.workspace
    (ws / "a.py").write_text("x = 1\n")
    claw_env.server.queue(
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "x = 9", "new_string": "x = 2"})
        ),
        text("I will read the file again."),
    )
    m = magics(widget_shell)
    cell(widget_shell, "", "set x")  # mode ask: an edit that could succeed would ask
    _wait(lambda: not m._busy(), timeout=30)  # nobody clicks: it must not wait for anyone
    view = m.last_view
    assert view.approval.children == ()
    (card,) = _cards(view)
    assert "error (tool_error)" in card and "old_string was not found" in card
    assert "old_string was not found in 'a.py'" in _tool_messages(claw_env.server)[0]


# -- a text transcript's denial -----------------------------------------------------------------


def test_a_text_denial_names_the_mode_in_use_and_what_lets_the_call_run(shell, claw_env, capsys):
    claw_env.server.queue(
        tool_calls(call("run_command", {"command": "git status"})), text("could not run it")
    )
    cell(shell, "--ui text --mode accept-edits", "status")
    out = capsys.readouterr().out
    denied = _tool_messages(claw_env.server)[0]
    for said in (out, denied):
        assert "mode accept-edits" in said
        assert "use --mode accept-edits" not in said  # the mode already in use
        assert "%%claw --mode auto" in said and "%claw config mode=auto" in said


def test_a_text_denial_of_what_asks_in_every_mode_offers_no_mode(shell, claw_env, capsys):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": ".claw/settings.toml", "content": "x"})),
        text("could not"),
    )
    cell(shell, "--ui text --mode auto", "write settings")
    denied = _tool_messages(claw_env.server)[0]
    assert "asks in every mode" in denied and "--mode" not in denied
