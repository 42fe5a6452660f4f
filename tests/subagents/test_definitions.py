"""Agent definitions: Claude Code's files as they are written, read confined to the workspace,
and nothing in them can widen what the parent may do."""

from __future__ import annotations

import logging
import os

import pytest

from claw_nb.config import load_config
from claw_nb.subagents.definitions import load_definitions, parse_definition
from claw_nb.subagents.front_matter import split_front_matter

# As Claude Code's `/agents` command writes them: `: ` and literal `\n` inside a plain value.
GENERATED = """---
name: code-reviewer
description: Use this agent after writing code. Examples: <example>Context: the user wrote a function.\\nuser: "review it"</example>
tools: Read, Grep, Glob, Bash(git diff:*), WebFetch
model: sonnet
color: red
---

You are a senior code reviewer.
Review the diff.
"""


def test_a_definition_written_by_claude_code_parses_as_claude_code_reads_it():
    d = parse_definition(GENERATED, ".claude/agents/code-reviewer.md")
    assert d.name == "code-reviewer"
    assert d.description.startswith("Use this agent after writing code. Examples: <example>")
    assert '\\nuser: "review it"</example>' in d.description
    assert d.tools == ("Read", "Grep", "Glob", "Bash(git diff:*)", "WebFetch")
    assert d.prompt == "You are a senior code reviewer.\nReview the diff."
    allowed, missing = d.allowed_tools(["read_file", "grep", "list_files", "run_command"])
    assert allowed == {"read_file", "grep", "list_files"}  # a Bash pattern is not widened to Bash
    assert missing == ["Bash(git diff:*)", "WebFetch"]


@pytest.mark.parametrize(
    "header, expected",
    [
        ("tools:\n  - Read\n  - Edit\n", ("Read", "Edit")),
        ("tools:\n- Read\n- Edit\n", ("Read", "Edit")),
        ("tools: [read_file, 'grep']\n", ("read_file", "grep")),
        ("tools: Read,Write\n", ("Read", "Write")),
        ("tools:\n", None),
        ("", None),
    ],
)
def test_tool_lists_in_every_form_claude_code_accepts(header, expected):
    d = parse_definition(f"---\nname: x\n{header}---\nbody\n", "x.md")
    assert d.tools == expected


def test_block_scalars_and_quoted_values():
    meta, body = split_front_matter(
        '---\nname: "quoted-name"\ndescription: >\n  folded\n  text\n\n  again\n'
        "note: |\n  kept\n  lines\nsaid: 'it''s'\n---\nthe body\n"
    )
    assert meta == {
        "name": "quoted-name",
        "description": "folded text\nagain",
        "note": "kept\nlines",
        "said": "it's",
    }
    assert body == "the body"


def test_without_front_matter_the_file_name_is_the_name():
    d = parse_definition("Just a prompt.\n", ".claw/agents/helper.md")
    assert (d.name, d.prompt, d.tools, d.model) == ("helper", "Just a prompt.", None, None)


@pytest.mark.parametrize(
    "text", ["---\nname: x\n---\n", "---\nname: ../up\n---\nbody", "---\nname: a b\n---\nbody"]
)
def test_a_definition_without_a_body_or_with_a_bad_name_is_refused(text):
    with pytest.raises(ValueError):
        parse_definition(text, "x.md")


def test_claw_agents_win_over_claude_agents_and_bad_files_are_skipped(workspace, caplog):
    for folder, body in ((".claw/agents", "ours"), (".claude/agents", "theirs")):
        (workspace / folder).mkdir(parents=True)
        (workspace / folder / "same.md").write_text(f"---\nname: same\n---\n{body}\n")
    (workspace / ".claude/agents/other.md").write_text("---\nname: other\n---\nother\n")
    (workspace / ".claude/agents/empty.md").write_text("---\nname: empty\n---\n")
    (workspace / ".claude/agents/notes.txt").write_text("not a definition")
    with caplog.at_level(logging.WARNING, logger="claw_nb"):
        found = load_definitions(workspace)
    assert sorted(found) == ["other", "same"]
    assert found["same"].prompt == "ours" and found["same"].protected
    assert not found["other"].protected
    assert "empty.md skipped" in caplog.text


def test_a_link_out_of_the_workspace_is_not_read(workspace, tmp_path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.md").write_text("---\nname: leak\n---\nsecret\n")
    (workspace / ".claude").mkdir()
    os.symlink(outside, workspace / ".claude" / "agents")
    (workspace / ".claw" / "agents").mkdir(parents=True)
    os.symlink(outside / "leak.md", workspace / ".claw" / "agents" / "leak.md")
    with caplog.at_level(logging.WARNING, logger="claw_nb"):
        assert load_definitions(workspace) == {}
    assert "not read" in caplog.text and "skipped" in caplog.text


def test_a_cloud_model_is_refused_from_claude_agents_and_honoured_from_claw_agents(workspace):
    config = load_config(workspace, model="ollama_chat/qwen3:8b", api_base="http://127.0.0.1:1")
    text = "---\nname: a\nmodel: {}\n---\nbody\n"
    claude = parse_definition(text.format("anthropic/claude-opus-4"), ".claude/agents/a.md")
    claw = parse_definition(text.format("anthropic/claude-opus-4"), ".claw/agents/a.md")
    local = parse_definition(text.format("ollama_chat/qwen3:1.7b"), ".claude/agents/a.md")
    alias = parse_definition(text.format("haiku"), ".claude/agents/a.md")
    model, why = claude.model_for(config)
    assert model is None and "not a local model" in why
    assert claw.model_for(config) == ("anthropic/claude-opus-4", None)
    assert local.model_for(config) == ("ollama_chat/qwen3:1.7b", None)
    assert alias.model_for(config) == (None, None)  # Claude Code's alias: the parent's model


def test_the_system_prompt_is_the_body_with_the_workspace_and_the_project_memory(workspace):
    (workspace / "AGENTS.md").write_text("Use tabs.\n")
    d = parse_definition("---\nname: r\n---\nYou review.\n", ".claw/agents/r.md")
    prompt = d.system_prompt(workspace)
    assert prompt.name == "agent:r" and prompt.text.startswith("You review.\n")
    assert str(workspace) in prompt.text and "Use tabs." in prompt.text
