"""Which grammar a request carries (tool_grammar): the first look, then text or one call."""

from __future__ import annotations

import pytest

from claw_nb.model.tool_grammar import named_paths, request_grammar
from claw_nb.tools import default_tools

SPECS = default_tools().specs()


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "cli.py").write_text("print('hi')\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("")
    return tmp_path


def grammar_for(task, workspace, history=()):
    messages = [{"role": "system", "content": "s"}, *history, {"role": "user", "content": task}]
    return request_grammar(messages, SPECS, workspace)


def root(grammar: str) -> str:
    return grammar.splitlines()[0]


def test_a_task_naming_a_file_starts_by_reading_that_file(folder):
    grammar = grammar_for("what does cli.py do? read it and summarise", folder)
    assert root(grammar) == "root ::= call"
    assert '\\"read_file\\"' in grammar and '\\"list_files\\"' not in grammar
    assert 'args-read-file-path ::= "\\"cli.py\\""' in grammar


def test_a_task_naming_a_folder_starts_by_listing_it(folder):
    grammar = grammar_for("what is in src/?", folder)
    assert root(grammar) == "root ::= call" and '\\"list_files\\"' in grammar
    assert '"\\"src\\""' in grammar or '"\\"src/\\""' in grammar


def test_a_task_about_the_project_starts_by_listing_the_workspace(folder):
    grammar = grammar_for("what is in this project?", folder)
    assert root(grammar) == "root ::= call" and '\\"list_files\\"' in grammar
    assert 'args-list-files ::= "{" ws "}"' in grammar


def test_a_task_that_needs_no_workspace_may_be_answered_in_text(folder):
    assert root(grammar_for("say hello in one short sentence", folder)) == "root ::= call | text"


def after_a_look(task, folder):
    history = [
        {"role": "user", "content": task},
        {"role": "assistant", "content": "", "tool_calls": []},
        {"role": "tool", "tool_call_id": "c1", "content": "1\tprint('hi')"},
    ]
    return request_grammar([{"role": "system", "content": "s"}, *history], SPECS, folder)


def test_after_a_look_a_question_is_answered_in_text(folder):
    assert root(after_a_look("what does cli.py do? read it and summarise", folder)) == (
        "root ::= text"
    )


def test_after_a_look_a_task_of_change_may_call_any_offered_tool(folder):
    grammar = after_a_look("add a --verbose flag to cli.py and test it", folder)
    assert root(grammar) == "root ::= call | text" and '\\"edit_file\\"' in grammar


def test_only_paths_inside_the_workspace_that_exist_count(folder, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("x")
    task = f"compare cli.py, missing.py, ../secret.txt, {outside}/secret.txt and ./src/app.py."
    assert named_paths(task, folder) == ["cli.py", "src/app.py"]


def test_no_tools_no_grammar(folder):
    assert request_grammar([{"role": "user", "content": "cli.py"}], [], folder) is None


def test_the_grammar_goes_on_the_wire_with_each_request(scripted_server, folder):
    from claw_nb.config import load_config
    from claw_nb.testing import text
    from tests.helpers import unguarded_agent

    scripted_server.queue(
        text('<tool_call>\n{"name": "read_file", "arguments": {"path": "cli.py"}}\n</tool_call>'),
        text("It prints hi."),
    )
    config = load_config(
        folder,
        model="openai/scripted",
        api_base=scripted_server.url,
        api_key="sk-test",
        tools_in_prompt=True,
        tool_grammar=True,
    )
    result = unguarded_agent(config).run("what does cli.py do?")
    assert result.final_answer == "It prints hi."
    first, second = scripted_server.requests
    assert "tools" not in first and root(first["grammar"]) == "root ::= call"
    assert '\\"cli.py\\"' in first["grammar"]
    assert root(second["grammar"]) == "root ::= text", "a question: one look, then the answer"


def test_no_grammar_unless_asked(scripted_server, folder):
    from claw_nb.config import load_config
    from claw_nb.testing import text
    from tests.helpers import unguarded_agent

    scripted_server.queue(text("hi"))
    config = load_config(
        folder, model="openai/scripted", api_base=scripted_server.url, tools_in_prompt=True
    )
    unguarded_agent(config).run("what does cli.py do?")
    assert "grammar" not in scripted_server.requests[0]
