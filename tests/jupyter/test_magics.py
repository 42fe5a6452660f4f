"""The notebook magics in a real IPython InteractiveShell, against the scripted model server.
The `shell` and `widget_shell` fixtures are in tests/conftest.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from functools import partial

import pytest
from IPython.core.error import UsageError

from claw_nb.jupyter.magics import ClawMagics, split_options
from claw_nb.testing import call, delay, text, tool_calls
from tests.helpers import wait_until


def magics(sh) -> ClawMagics:
    return sh.magics_manager.registry["ClawMagics"]


def cell(sh, line: str, body: str = ""):
    if not body:
        return sh.run_line_magic("claw", line)
    return sh.run_cell_magic("claw", line, body)


def user_turns(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


# -- loading ----------------------------------------------------------------------------------


def test_load_ext_is_fast_and_imports_nothing_heavy():
    code = textwrap.dedent("""
        import sys, time
        from IPython.core.interactiveshell import InteractiveShell
        sh = InteractiveShell.instance()
        sh.config.ClawMagics.preload = False  # the background import is tested on its own
        heavy = ("litellm", "duckdb", "pandas", "nbformat", "ipywidgets")
        before = {m for m in heavy if m in sys.modules}
        t = time.perf_counter()
        sh.run_line_magic("load_ext", "claw_nb")
        took = time.perf_counter() - t
        print(sorted({m for m in heavy if m in sys.modules} - before), round(took, 3))
        assert "claw" in sh.magics_manager.magics["cell"]
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    loaded, took = out.stdout.split("]")
    assert loaded == "[", f"imported at load: {loaded}]"
    assert float(took) < 0.5


def test_unload_and_reload_leave_one_working_magic(shell, claw_env):
    shell.run_line_magic("unload_ext", "claw_nb")
    assert "claw" not in shell.magics_manager.magics["cell"]
    assert "claw" not in shell.magics_manager.magics["line"]
    assert not any(isinstance(c, ClawMagics) for c in shell.configurables)
    shell.run_line_magic("load_ext", "claw_nb")
    shell.run_line_magic("reload_ext", "claw_nb")
    assert sum(isinstance(c, ClawMagics) for c in shell.configurables) == 1
    claw_env.server.queue(text("still here"))
    cell(shell, "--mode auto", "hello")
    assert claw_env.server.requests


# -- running a task in text mode --------------------------------------------------------------


def test_cell_runs_the_task_and_prints_the_transcript(shell, claw_env, capsys):
    ws = claw_env.workspace
    (ws / "utils.py").write_text("def add(a, b):\n    return a - b\n")
    claw_env.server.queue(
        tool_calls(call("read_file", {"path": "utils.py"})),
        tool_calls(
            call("edit_file", {"path": "utils.py", "old_string": "a - b", "new_string": "a + b"})
        ),
        text("Fixed `add`."),
    )
    result = cell(shell, "--mode accept-edits fix add in utils.py", "it should add")
    assert result is None
    out = capsys.readouterr().out
    assert "-> read_file" in out and "-> edit_file" in out
    assert "-    return a - b" in out and "+    return a + b" in out  # the edit as a diff
    assert "Fixed `add`." in out
    assert "claw: changed utils.py (edited, +1 -1)" in out
    assert "stopped (completed)" in out
    assert (ws / "utils.py").read_text().endswith("a + b\n")
    assert user_turns(claw_env.server.requests[0]) == ["fix add in utils.py\nit should add"]
    assert magics(shell).last_result.ok


def test_task_words_keep_their_quotes_and_braces(shell, claw_env):
    claw_env.server.queue(text("ok"))
    cell(shell, "--mode auto rename \"old name\" to 'new' in {missing}", "and don't stop")
    assert user_turns(claw_env.server.requests[0]) == [
        "rename \"old name\" to 'new' in {missing}\nand don't stop"
    ]


def test_kernel_variables_are_expanded_into_the_task(shell, claw_env):
    pytest.importorskip("claw_nb.jupyter.task_context")
    shell.user_ns["threshold"] = 42
    claw_env.server.queue(text("ok"))
    cell(shell, "--mode auto use {threshold} as the limit", "")
    assert "42" in user_turns(claw_env.server.requests[0])[0]


def test_line_magic_with_several_words_is_a_one_line_task(shell, claw_env, capsys):
    claw_env.server.queue(text("one-liner answered"))
    cell(shell, "--mode auto explain the project layout")
    assert "one-liner answered" in capsys.readouterr().out
    assert user_turns(claw_env.server.requests[0]) == ["explain the project layout"]


def test_quiet_prints_only_the_answer(shell, claw_env, capsys):
    claw_env.server.queue(tool_calls(call("list_files", {})), text("The answer."))
    cell(shell, "--quiet --mode auto", "list the files")
    out = capsys.readouterr().out
    assert out.strip() == "The answer."


def test_edits_are_denied_without_widgets_unless_the_mode_allows(shell, claw_env, capsys):
    ws = claw_env.workspace
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "new.py", "content": "x = 1\n"})),
        text("I could not write it."),
    )
    cell(shell, "", "create new.py")
    out = capsys.readouterr().out
    assert not (ws / "new.py").exists()
    assert "denied" in out and "nobody to ask without widgets" in out
    denied = claw_env.server.requests[1]["messages"][-1]["content"]
    assert "permission denied" in denied and "--mode accept-edits" in denied


# -- the conversation ------------------------------------------------------------------------


def test_consecutive_cells_continue_one_conversation(shell, claw_env):
    claw_env.server.queue(text("first"), text("second"), text("fresh"))
    cell(shell, "--mode auto", "task one")
    first_id = magics(shell).agent.session_id
    cell(shell, "--mode auto", "task two")
    assert magics(shell).agent.session_id == first_id
    assert user_turns(claw_env.server.requests[1]) == ["task one", "task two"]
    cell(shell, "--new --mode auto", "task three")
    assert magics(shell).agent.session_id != first_id
    assert user_turns(claw_env.server.requests[2]) == ["task three"]


def test_changing_the_model_keeps_the_conversation(shell, claw_env):
    claw_env.server.queue(text("first"), text("second"))
    cell(shell, "--mode auto", "task one")
    agent = magics(shell).agent
    cell(shell, "--mode auto --model openai/other-model", "task two")
    assert magics(shell).agent is not agent
    assert magics(shell).agent.session_id == agent.session_id
    assert claw_env.server.requests[1]["model"] == "other-model"
    assert user_turns(claw_env.server.requests[1]) == ["task one", "task two"]


def test_max_steps_applies_to_the_cell(shell, claw_env, capsys):
    claw_env.server.queue(*[tool_calls(call("list_files", {}))] * 3)
    cell(shell, "--mode auto --max-steps 2", "loop")
    assert len(claw_env.server.requests) == 2
    assert "stopped (max_steps)" in capsys.readouterr().out


def test_resume_after_a_restart_continues_the_logged_session(shell, claw_env, capsys):
    claw_env.server.queue(text("remembered: blue"), text("you said blue"))
    cell(shell, "--mode auto", "my colour is blue")
    session_id = magics(shell).agent.session_id
    # A kernel restart: a fresh extension instance knows no conversation.
    shell.run_line_magic("unload_ext", "claw_nb")
    shell.run_line_magic("load_ext", "claw_nb")
    assert magics(shell).agent is None
    cell(shell, f"resume {session_id[:4]}")
    assert f"resumed session {session_id}" in capsys.readouterr().out
    cell(shell, "--mode auto", "what is my colour?")
    assert magics(shell).agent.session_id == session_id  # the session it named, not a new one
    assert user_turns(claw_env.server.requests[1]) == ["my colour is blue", "what is my colour?"]
    import duckdb

    from claw_nb.log.store import list_sessions, load_messages

    logged = load_messages(claw_env.db, session_id)
    assert [m["role"] for m in logged] == ["system", "user", "assistant", "user", "assistant"]
    assert list(list_sessions(claw_env.db)["session_id"]) == [session_id]  # one session
    with duckdb.connect(str(claw_env.db), read_only=True) as con:
        steps = con.execute(
            "SELECT step FROM llm_calls WHERE session_id = ? ORDER BY step", [session_id]
        ).fetchall()
    assert steps == [(1,), (2,)]  # the resumed call is numbered after the logged one


def test_session_option_continues_a_session_by_id_prefix(shell, claw_env):
    claw_env.server.queue(text("a"), text("b"), text("c"), text("d"))
    cell(shell, "--mode auto", "first conversation")
    first = magics(shell).agent.session_id
    cell(shell, "--new --mode auto", "second conversation")
    cell(shell, f"--session {first[:6]} --mode auto", "back to the first")
    assert magics(shell).agent.session_id == first
    assert user_turns(claw_env.server.requests[2]) == ["first conversation", "back to the first"]
    cell(shell, "--mode auto", "and on")  # a plain cell goes on with it
    assert magics(shell).agent.session_id == first
    assert user_turns(claw_env.server.requests[3])[-2:] == ["back to the first", "and on"]


def test_resume_errors_are_one_line(shell, claw_env):
    with pytest.raises(UsageError, match="no sessions logged"):
        cell(shell, "resume")
    with pytest.raises(UsageError, match="no session 'nope'"):
        cell(shell, "--session nope", "x")


# -- subcommands ------------------------------------------------------------------------------


def test_sessions_and_log_are_dataframes_from_duckdb(shell, claw_env):
    claw_env.server.queue(tool_calls(call("list_files", {})), text("done"))
    cell(shell, "--mode auto", "look around")
    sessions = cell(shell, "sessions")
    assert list(sessions["session_id"]) == [magics(shell).agent.session_id]
    assert sessions["task"][0] == "look around"
    log = cell(shell, "log")
    assert list(log["kind"]) == ["model", "tool", "model"]
    assert log["name"][1] == "list_files" and bool(log["ok"][1])
    assert len(cell(shell, "sessions 0")) == 0


def test_config_shows_and_sets_settings_for_the_kernel(shell, claw_env, capsys):
    cell(shell, "config")
    out = capsys.readouterr().out
    assert "openai/scripted" in out and claw_env.server.url in out and "sk-test" not in out
    cell(shell, "config max_steps=7 mode=accept-edits temperature=0.5")
    m = magics(shell)
    assert (m.max_steps, m.mode, m.options["temperature"]) == (7, "accept-edits", "0.5")
    assert m.config_for().temperature == 0.5
    cell(shell, "config max_steps=")
    assert m.max_steps is None
    shell.run_line_magic("config", "ClawMagics.model = 'openai/from-config'")
    assert m.config_for().model == "openai/from-config"
    cell(shell, "model openai/scripted")
    assert m.model == "openai/scripted"


def test_settings_come_from_ipython_config_py(tmp_path):
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text(
        "c.ClawMagics.model = 'openai/from-config-file'\nc.ClawMagics.max_steps = 9\n"
    )
    code = (
        "ip = get_ipython(); ip.run_line_magic('load_ext', 'claw_nb'); "
        "m = ip.magics_manager.registry['ClawMagics']; print('SETTINGS', m.model, m.max_steps)"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            f"--ipython-dir={tmp_path / 'ipython'}",
            "--no-banner",
            "-c",
            code,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert "SETTINGS openai/from-config-file 9" in out.stdout, out.stdout + out.stderr


def test_tools_lists_what_the_mode_does(shell, capsys):
    cell(shell, "tools")
    out = capsys.readouterr().out
    assert "read_file" in out and "run_command" in out and "mode ask" in out


def test_status_and_new(shell, claw_env, capsys):
    cell(shell, "status")
    assert "no conversation yet" in capsys.readouterr().out
    claw_env.server.queue(text("hi"))
    cell(shell, "--mode auto", "hello")
    cell(shell, "status")
    assert "1 task" in capsys.readouterr().out
    cell(shell, "new")
    assert magics(shell).agent is None


@pytest.mark.parametrize(
    ("line", "body", "message"),
    [
        ("--bogus", "x", "unrecognized arguments: --bogus"),
        ("--max-steps many", "x", "invalid int value"),
        ("--max-steps 0", "x", "max_steps"),
        ("--mode yolo", "x", "unknown permission mode 'yolo'"),
        ("--ui fancy", "x", "--ui must be one of"),
        ("--new --session abc", "x", "contradict"),
        ("--model", "x", "expected one argument"),
        ("--mode auto", "   ", "no task"),
        ("sesions", "", "did you mean sessions"),
        ("frobnicate", "", "unknown subcommand 'frobnicate'"),
        ("config nonsense=1", "", "unknown setting 'nonsense'"),
        ("config max_steps=-3", "", "positive integer"),
        ("config mode=yolo", "", "unknown permission mode"),
        ("config quiet=maybe", "", "true or false"),
        ("config model", "", "KEY=VALUE"),
        ("new please", "", "takes no arguments"),
        ("log a b", "", "at most one"),
        ("--ui widget", "x", "needs a Jupyter kernel"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(shell, line, body, message):
    with pytest.raises(UsageError) as info:
        if body:
            shell.run_cell_magic("claw", line, body)
        else:
            shell.run_line_magic("claw", line)
    text_ = str(info.value)
    assert message in text_ and "\n" not in text_ and "Traceback" not in text_


def test_bad_input_in_a_cell_shows_one_line_not_a_traceback(shell, capsys):
    shell.run_cell("%%claw --bogus\nsome task\n")
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "UsageError" in shown and "unrecognized arguments" in shown
    assert "Traceback" not in shown


def test_help(shell, capsys):
    cell(shell, "help")
    out = capsys.readouterr().out
    assert "%%claw [options] TASK" in out and "%claw resume" in out
    shell.run_cell_magic("claw", "--help", "ignored")
    assert "--max-steps" in capsys.readouterr().out


def test_split_options_keeps_the_task_verbatim():
    parser = ClawMagics.claw.parser
    words, task = split_options('--model "openai/x y" --new --max-steps=3 fix "it" -- now', parser)
    assert words == ["--model", "openai/x y", "--new", "--max-steps=3"]
    assert task == 'fix "it" -- now'
    assert split_options("-- --not-an-option here", parser) == ([], "--not-an-option here")
    assert split_options("", parser) == ([], "")


def test_text_transcript_writes_whole_lines_and_lists_notebook_edits(tmp_path):
    import io

    from claw_nb import events as ev
    from claw_nb.jupyter.text_view import NotebookTextPrinter

    class Recording(io.StringIO):
        writes = 0

        def write(self, s):
            Recording.writes += 1
            return super().write(s)

    out = Recording()
    printer = NotebookTextPrinter(out=out)
    sid = "s1"
    arguments = {"path": "a.ipynb", "source": "x = 1", "cell_id": "c7", "index": None}
    for event in [
        ev.SessionStarted(
            sid,
            model="m",
            workspace=str(tmp_path),
            task="t",
            system_prompt="",
            system_prompt_sha="",
        ),
        *[ev.TextDelta(sid, step=1, text=chunk) for chunk in ("Hel", "lo\nwor", "ld")],
        ev.ToolCallStarted(
            sid, step=1, call_id="1", tool="notebook_edit", arguments=arguments, raw_arguments="{}"
        ),
        ev.ToolCallFinished(
            sid,
            step=1,
            call_id="1",
            tool="notebook_edit",
            arguments=arguments,
            raw_arguments="{}",
            ok=True,
            result="Replaced cell c7",
        ),
        ev.SessionEnded(sid, stop_reason="completed", steps=1),
    ]:
        printer(event)
    text_ = out.getvalue()
    assert "Hello\nworld\n-> notebook_edit" in text_
    assert "claw: changed a.ipynb (notebook: replace cell c7)" in text_
    assert Recording.writes < 12  # lines, not a write per streamed chunk


# -- widget mode, without a browser (the browser test is tests/e2e) ---------------------------


_wait = partial(wait_until, timeout=20.0)


def test_widget_run_returns_at_once_and_approval_buttons_decide(widget_shell, claw_env):
    ws = claw_env.workspace
    (ws / "a.py").write_text("x = 1\n")
    claw_env.server.queue(
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"})
        ),
        text("Changed **x**."),
        text("second run"),
    )
    m = magics(widget_shell)
    started = time.monotonic()
    cell(widget_shell, "", "set x to 2")
    view = m.last_view
    cell(widget_shell, "", "and then?")  # queues behind the first run
    second = m.last_view
    assert time.monotonic() - started < 2  # the cells did not wait for the agent
    assert "queued" in second.status.value
    with pytest.raises(UsageError, match="still going"):
        cell(widget_shell, "--ui text", "a text run now would deadlock")
    _wait(lambda: len(view.approval.children) == 2)
    prompt = view.approval.children[0].value
    assert "edit_file" in prompt and "x = 2" in prompt
    assert (ws / "a.py").read_text() == "x = 1\n"
    view.approval.children[1].children[0].click()  # Approve
    _wait(lambda: not m._busy())
    assert (ws / "a.py").read_text() == "x = 2\n"
    assert "completed" in view.status.value and "completed" in second.status.value
    html = "".join(getattr(c, "value", "") for c in view.body.children)
    assert "edit_file" in html and "+x = 2" in html
    texts = [
        c.outputs[0]["data"]["text/markdown"]
        for c in view.body.children
        if getattr(c, "outputs", None)
    ]
    assert "Changed **x**." in texts
    assert "a.py (edited, +1 -1)" in view.footer.value
    assert user_turns(claw_env.server.requests[-1]) == ["set x to 2", "and then?"]


def test_widget_deny_with_a_reason_and_always_allow_that_file(widget_shell, claw_env):
    ws = claw_env.workspace
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "one.txt", "content": "1"})),
        tool_calls(call("write_file", {"path": "two.txt", "content": "2"})),
        tool_calls(call("write_file", {"path": "two.txt", "content": "22"})),
        text("done"),
    )
    m = magics(widget_shell)
    cell(widget_shell, "", "write files")
    view = m.last_view

    answered = [None]

    def click(label, reason=""):
        def new_prompt():
            children = view.approval.children
            return len(children) == 2 and children[0] is not answered[-1]

        _wait(new_prompt)
        prompt, row = view.approval.children
        answered.append(prompt)
        row.children[-1].value = reason  # the Deny reason box, last in the row
        next(b for b in row.children if getattr(b, "description", "") == label).click()
        return prompt.value

    click("Deny", "  use   notes.md instead ")
    prompt = click("Always allow")
    assert "Always allow <code>write_file(two.txt)</code>" in prompt  # shown before the click
    _wait(lambda: not m._busy())
    assert not (ws / "one.txt").exists()
    assert (ws / "two.txt").read_text() == "22"  # no third question: the rule covers the file
    denied = next(
        msg["content"] for msg in claw_env.server.requests[1]["messages"] if msg["role"] == "tool"
    )
    assert "permission denied" in denied and "The user says: use notes.md instead" in denied
    cards = [c.value for c in view.body.children if "claw-card" in getattr(c, "value", "")]
    assert "allowed by rule write_file(two.txt)" in cards[-1]
    assert "allowed by rule" not in cards[1]  # approved by a person, not by a rule


def test_widget_stop_ends_the_run_at_the_next_safe_point(widget_shell, claw_env):
    claw_env.server.queue(delay(1.0, tool_calls(call("list_files", {}))), text("never"))
    m = magics(widget_shell)
    cell(widget_shell, "--mode auto", "slow")
    view = m.last_view
    _wait(lambda: "running" in view.status.value)
    # Stop while the model is answering (a Stop before the first step stops at step 0, also
    # right, but not what this test is about)
    _wait(lambda: len(claw_env.server.requests) == 1)
    view.stop_button.click()
    _wait(lambda: not m._busy())
    assert m.last_result.stop_reason == "interrupted"
    assert "stopped by you" in view.status.value  # the stop reason in words
    assert "step 1/" in view.status.value  # the stopped step counts, as in the log
    assert "stopped by you" in view.static_bundle["text/plain"]
    assert len(claw_env.server.requests) == 1


def test_widget_stop_on_a_queued_run_cancels_it(widget_shell, claw_env):
    gate = threading.Event()

    def slow(request):
        gate.wait(10)
        return text("first")

    claw_env.server.queue(slow, text("unused"))
    m = magics(widget_shell)
    cell(widget_shell, "--mode auto", "first")
    _wait(lambda: len(claw_env.server.requests) == 1)  # the first run is at the model
    cell(widget_shell, "--mode auto", "second")
    queued = m.last_view
    queued.stop_button.click()
    assert "cancelled" in queued.status.value
    cell(widget_shell, "--mode auto", "third")
    cell(widget_shell, "--mode auto", "fourth")
    fourth = m.last_view
    cell(widget_shell, "stop")  # stops the first, cancels what waits
    assert "cancelled" in fourth.status.value
    gate.set()
    _wait(lambda: not m._busy())
    assert len(claw_env.server.requests) == 1


def test_unload_while_a_widget_run_waits_for_approval_does_not_hang(widget_shell, claw_env):
    claw_env.server.queue(
        tool_calls(call("write_file", {"path": "w.txt", "content": "w"})), text("ok")
    )
    m = magics(widget_shell)
    cell(widget_shell, "", "write w.txt")
    _wait(lambda: len(m.last_view.approval.children) == 2)
    started = time.monotonic()
    widget_shell.run_line_magic("unload_ext", "claw_nb")
    assert time.monotonic() - started < 5
    assert not (claw_env.workspace / "w.txt").exists()
    widget_shell.run_line_magic("load_ext", "claw_nb")  # the fixture unloads again


def test_model_list_shows_what_this_machine_can_use(shell, claw_env, capsys):
    shell.run_line_magic("claw", "model --list")
    out = capsys.readouterr().out
    assert "configured model: " in out and "model servers on this machine:" in out
