"""The system prompt templates: the default leaves the tool list to the schemas."""

from __future__ import annotations

from claw_nb.prompts import render_system_prompt
from claw_nb.tools import default_tools


def test_default_does_not_repeat_the_tool_list_and_full_does(tmp_path):
    tools = default_tools()
    default = render_system_prompt(tmp_path, tools, "default").text
    full = render_system_prompt(tmp_path, tools, "full").text
    listing = "`edit_file(path, old_string, new_string, replace_all?)`"
    assert listing not in default and listing in full
    assert str(tmp_path) in default and "$" not in default.replace("$memory", "")
    assert len(default) < len(full) / 2
