"""An MCP tool as a claw_nb Tool: its name, schema, kind, and how permission rules see it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from claw_nb.mcp.tools import claw_tool, render_result, tool_name
from claw_nb.permission_rules import Rule
from claw_nb.permissions import PermissionPolicy
from claw_nb.tools.base import ToolError


def listed(name="get_issue", read_only=None, schema=None, description="Get an issue."):
    annotations = None if read_only is None else SimpleNamespace(read_only_hint=read_only)
    schema = schema or {
        "type": "object",
        "properties": {"repo": {"type": "string"}, "number": {"type": "integer"}},
        "required": ["repo", "number"],
    }
    return SimpleNamespace(
        name=name, description=description, title=None, input_schema=schema, annotations=annotations
    )


def result(*texts, is_error=False, structured=None):
    content = [SimpleNamespace(type="text", text=t) for t in texts]
    return SimpleNamespace(content=content, is_error=is_error, structured_content=structured)


def test_a_tool_is_named_after_its_server_and_keeps_its_schema():
    calls = []
    tool = claw_tool(
        "github", listed(), lambda name, args: calls.append((name, args)) or result("#1")
    )
    assert tool.name == "mcp__github__get_issue"
    assert tool.parameters["required"] == ["repo", "number"]
    assert tool.kind == "mcp"
    assert tool.primary_argument == "repo"
    assert "(MCP server github)" in tool.description
    assert tool.run(None, {"repo": "a/b", "number": 1}) == "#1"
    assert calls == [("get_issue", {"repo": "a/b", "number": 1})]


def test_names_a_model_api_refuses_are_made_safe_and_stay_unique():
    assert tool_name("my.server", "do it") == "mcp__my_server__do_it"
    long_a, long_b = tool_name("s", "x" * 80 + "a"), tool_name("s", "x" * 80 + "b")
    assert len(long_a) == 64 and long_a != long_b


def test_a_read_only_annotation_makes_a_read_unless_the_settings_distrust_it():
    assert claw_tool("s", listed(read_only=True), lambda n, a: None).kind == "read"
    assert claw_tool("s", listed(read_only=False), lambda n, a: None).kind == "mcp"
    distrusted = claw_tool("s", listed(read_only=True), lambda n, a: None, trust_read_only=False)
    assert distrusted.kind == "mcp"


def test_an_error_result_is_a_tool_error_with_the_server_text():
    tool = claw_tool("github", listed(), lambda n, a: result("no such repo", is_error=True))
    with pytest.raises(ToolError, match="github/get_issue reported an error: no such repo"):
        tool.run(None, {"repo": "x", "number": 1})


def test_results_render_text_structured_content_and_name_other_media():
    assert render_result(result("a", "b"), "s/t") == "a\nb"
    assert render_result(result(structured={"n": 1}), "s/t") == '{\n "n": 1\n}'
    image = SimpleNamespace(type="image", data="QUJD" * 10, mime_type="image/png")
    shown = render_result(SimpleNamespace(content=[image], is_error=False), "s/t")
    assert shown == "[image image/png, about 30 bytes, not shown]"


def policy(mode="ask", **rules):
    p = PermissionPolicy(mode=mode)
    for action, texts in rules.items():
        p.rules.extend(Rule.parse(action, t) for t in texts)
    return p


@pytest.mark.parametrize(
    ("mode", "kind", "action"),
    [
        ("ask", "mcp", "ask"),
        ("accept-edits", "mcp", "ask"),
        ("auto", "mcp", "allow"),
        ("read-only", "mcp", "deny"),
        ("read-only", "read", "allow"),
        ("ask", "read", "allow"),
    ],
)
def test_mcp_tools_ask_like_commands_and_read_only_ones_pass(mode, kind, action):
    assert policy(mode).decide("mcp__github__get_issue", kind, {})[0] == action


@pytest.mark.parametrize(
    "rule", ["mcp__github__*", "mcp__github", "mcp__github__get_issue", "mcp__*", "*"]
)
def test_rules_name_a_tool_a_glob_or_a_whole_server(rule):
    allowed = policy(allow=[rule])
    assert allowed.decide("mcp__github__get_issue", "mcp", {})[0] == "allow"


def test_a_server_rule_does_not_reach_another_server_with_a_longer_name():
    allowed = policy(allow=["mcp__git"])
    assert allowed.decide("mcp__github__get_issue", "mcp", {})[0] == "ask"


def test_a_deny_rule_on_a_server_denies_even_its_read_only_tools():
    denied = policy(mode="auto", deny=["mcp__github"])
    assert denied.decide("mcp__github__get_issue", "read", {})[0] == "deny"


def test_a_rule_pattern_matches_the_primary_argument():
    tool = claw_tool("github", listed(), lambda n, a: None)
    p = policy(allow=["mcp__github__get_issue(team/*)"])
    ok = p.decide(tool.name, tool.kind, {"repo": "team/app", "number": 1}, tool.primary_argument)
    other = p.decide(tool.name, tool.kind, {"repo": "else/app", "number": 1}, tool.primary_argument)
    assert (ok[0], other[0]) == ("allow", "ask")


def test_a_rule_with_a_hyphenated_server_name_parses():
    assert Rule.parse("allow", "mcp__my-server__*").tool == "mcp__my-server__*"
