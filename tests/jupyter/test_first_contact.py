"""A first session in a notebook: what `%claw config` says about `model auto`, errors that
read as sentences with the notebook's way to fix them, a header that says a start failed,
`%claw tools` cut at words, and `%claw resume` continuing the session it names.

A real IPython shell against the scripted server; the "model servers on this machine" that
`auto` looks for are pointed at the scripted server's port.
"""

from __future__ import annotations

import threading

import pytest
from IPython.core.error import UsageError

from claw_nb.testing import error, text
from tests.notebook_shell import claw_shell

SAFETY = 60.0


@pytest.fixture
def shell(claw_env, private_cache, monkeypatch):
    """tests/conftest.py's shell, with a user cache of the test's own (`widget_shell` too)."""
    with claw_shell(monkeypatch, claw_env.workspace) as sh:
        yield sh


@pytest.fixture
def auto_finds_the_scripted_server(claw_env, monkeypatch):
    """`model auto`, with the scripted server as the one model server on this machine."""
    from claw_nb.model import discovery, resolve

    monkeypatch.setenv("CLAW_MODEL", "auto")
    monkeypatch.delenv("CLAW_API_BASE")
    port = claw_env.server.port
    monkeypatch.setattr(discovery, "KNOWN_SERVERS", (("llama.cpp", port, "/v1/models", "openai/"),))
    monkeypatch.setattr(resolve, "_resolved", {})
    monkeypatch.setattr(resolve, "_told", set())
    return port


def magics(sh):
    return sh.magics_manager.registry["ClawMagics"]


def config_row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"{name} ")).split(None, 1)[1]


def finished(m) -> threading.Event:
    done = threading.Event()
    threading.Thread(target=lambda: m._queue.wait_idle(SAFETY) and done.set(), daemon=True).start()
    return done


# -- %claw config and model auto --------------------------------------------------------------


def test_config_says_what_model_auto_will_look_for_then_what_it_found(
    shell, claw_env, auto_finds_the_scripted_server, capsys
):
    port = auto_finds_the_scripted_server
    shell.run_line_magic("claw", "config")
    before = config_row(capsys.readouterr().out, "model")
    assert before.startswith("auto (not yet resolved: the first run looks for a model server")
    assert f"llama.cpp on {port}" in before and "else uses the embedded" in before
    claw_env.server.queue(text("hello"))
    shell.run_cell_magic("claw", "--mode auto", "hi")
    capsys.readouterr()
    shell.run_line_magic("claw", "config")
    after = config_row(capsys.readouterr().out, "model")
    assert after == f"auto -> openai/scripted at http://127.0.0.1:{port}/v1"


# -- errors read as sentences, with the notebook's hint ---------------------------------------


def test_a_missing_model_is_a_sentence_with_the_notebook_way_to_fix_it(shell):
    with pytest.raises(UsageError) as caught:
        shell.run_cell_magic("claw", "--model local/nosuch", "hi")
    message = str(caught.value)
    assert message.startswith("claw: no GGUF file named 'nosuch'")
    assert "EmbeddedModelError" not in message  # no class name
    assert "%claw config model=NAME" in message and "%claw model --list" in message
    assert "--model" not in message.replace("--model local/nosuch", "")  # no CLI flag
    assert "CLAW_MODEL" not in message


def test_a_model_the_server_does_not_know_is_shown_with_the_notebook_hint(shell, claw_env, capsys):
    claw_env.server.queue(error(404, "model 'scripted' not found"))
    shell.run_cell_magic("claw", "--mode auto", "hi")
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("claw: error:"))
    assert "model 'openai/scripted' not found" in line
    assert line.endswith("`%claw model --list` shows what this machine has)")
    assert "%claw config model=NAME" in line and "CLAW_MODEL" not in line


def test_a_failed_start_shows_the_failure_in_the_header_not_step_1(widget_shell, claw_env):
    claw_env.server.queue(error(401, "bad key"))
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--mode auto", "hi")
    assert finished(m).wait(SAFETY)
    view = m.last_view
    header = view.status.value
    assert "failed to start: model refused the key" in header
    assert "step " not in header and "tokens written" not in header
    notes = " ".join(getattr(c, "value", "") for c in view.body.children)
    assert "refused the API key" in notes and "%claw config api_key=KEY" in notes
    assert "failed to start: model refused the key" in view.static_bundle["text/plain"]


def test_a_run_that_cannot_be_set_up_says_why_in_one_sentence(widget_shell):
    m = magics(widget_shell)
    widget_shell.run_cell_magic("claw", "--model local/nosuch", "hi")
    assert finished(m).wait(SAFETY)
    view = m.last_view
    assert "failed to start" in view.status.value and "step " not in view.status.value
    notes = " ".join(getattr(c, "value", "") for c in view.body.children)
    assert "no GGUF file named" in notes and "EmbeddedModelError" not in notes
    assert "%claw config model=NAME" in notes


# -- %claw tools ------------------------------------------------------------------------------


def test_tools_wraps_descriptions_at_words(shell, capsys):
    from claw_nb.jupyter.subcommands import first_sentence
    from claw_nb.tools import default_tools

    shell.run_line_magic("claw", "tools")
    lines = capsys.readouterr().out.splitlines()[1:]
    start = lines[0].index(first_sentence(default_tools().get("read_file").description)[:10])
    shown: dict[str, str] = {}
    name = ""
    for line in lines:
        if line[2] != " ":  # a tool's first line; the others continue its summary
            name = line.split()[0]
            shown[name] = line[start:]
        else:
            assert line[:start].strip() == ""
            shown[name] += " " + line[start:]
        assert len(line) <= start + 64
    for tool in default_tools():
        assert shown[tool.name] == first_sentence(tool.description)  # every word, whole


# -- resume -----------------------------------------------------------------------------------


def test_resume_then_a_plain_cell_continues_the_named_session(shell, claw_env, capsys):
    claw_env.server.queue(text("a"), text("b"), text("c"))
    shell.run_cell_magic("claw", "--mode auto", "first conversation")
    first = magics(shell).agent.session_id
    shell.run_line_magic("claw", "new")
    shell.run_cell_magic("claw", "--mode auto", "second conversation")
    second = magics(shell).agent.session_id
    capsys.readouterr()
    shell.run_line_magic("claw", f"resume {first[:4]}")
    assert f"resumed session {first}" in capsys.readouterr().out
    shell.run_cell_magic("claw", "--mode auto", "back to the first")
    assert magics(shell).agent.session_id == first != second
    users = [m["content"] for m in claw_env.server.requests[2]["messages"] if m["role"] == "user"]
    assert users == ["first conversation", "back to the first"]
    shell.run_line_magic("claw", "status")
    assert f"session {first}" in capsys.readouterr().out
