"""File tools, todo_write, schema derivation and the registry."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Literal, Optional

import pytest

from claw_nb.tools import Tool, ToolContext, ToolError, ToolRegistry, default_tools, tool
from claw_nb.tools.files import edit_file, read_file, write_file
from claw_nb.tools.ignore import GitIgnore
from claw_nb.tools.search import grep, list_files
from claw_nb.tools.todo import todo_write


def run(ctx: ToolContext, t: Tool, **kwargs) -> str:
    return t.run(ctx, kwargs)


# --- schema derivation -----------------------------------------------------------------------


def params(t: Tool) -> dict:
    return t.parameters


def test_read_file_schema_requires_path_and_has_integer_offset_and_limit():
    p = params(read_file)
    assert p["required"] == ["path"]
    assert p["additionalProperties"] is False
    assert p["properties"]["path"]["type"] == "string"
    assert p["properties"]["offset"] == {**p["properties"]["offset"], "type": "integer"}
    assert p["properties"]["offset"]["default"] == 1
    assert p["properties"]["limit"]["type"] == "integer"
    assert p["properties"]["limit"]["default"] == 2000


def test_write_file_schema_requires_path_and_content():
    p = params(write_file)
    assert p["required"] == ["path", "content"]
    assert set(p["properties"]) == {"path", "content"}


def test_edit_file_schema_has_optional_boolean_replace_all():
    p = params(edit_file)
    assert p["required"] == ["path", "old_string", "new_string"]
    assert p["properties"]["replace_all"]["type"] == "boolean"
    assert p["properties"]["replace_all"]["default"] is False


def test_list_files_schema_has_no_required_arguments():
    p = params(list_files)
    assert p["required"] == []
    assert set(p["properties"]) == {"path", "pattern"}
    assert p["properties"]["pattern"]["default"] == "**/*"


def test_grep_schema_requires_only_pattern_and_glob_is_a_plain_string():
    p = params(grep)
    assert p["required"] == ["pattern"]
    assert p["properties"]["glob"]["type"] == "string"


def test_todo_write_schema_describes_items_with_status_enum():
    items = params(todo_write)["properties"]["todos"]["items"]
    assert params(todo_write)["properties"]["todos"]["type"] == "array"
    assert items["required"] == ["content", "status"]
    assert items["properties"]["status"]["enum"] == ["pending", "in_progress", "completed"]
    assert items["properties"]["id"]["type"] == "string"


def test_every_schema_parameter_has_a_description():
    for t in default_tools():
        assert t.description
        for name, prop in t.parameters["properties"].items():
            assert prop.get("description"), (t.name, name)


def test_tool_decorator_maps_type_hints_to_json_schema():
    @tool("meta")
    def sample(
        ctx: ToolContext,
        s: str,
        i: int,
        f: float,
        b: bool,
        names: list[str],
        rows: list[dict],
        obj: dict,
        mode: Literal["a", "b"],
        maybe: Optional[str] = None,  # noqa: UP045
        other: int | None = None,
    ) -> str:
        """Do a sample thing.

        Second paragraph is not part of the description.

        Args:
            s: A string.
            i: An int.
            f: A float.
            b: A bool.
            names: Some names,
                continued on the next line.
            rows: Some rows.
            obj: An object.
            mode: A mode.
            maybe: Optional string.
            other: Optional int.

        Returns:
            Text.
        """
        return ""

    p = sample.parameters
    props = p["properties"]
    assert sample.name == "sample" and sample.kind == "meta"
    assert sample.description == "Do a sample thing."
    assert p["required"] == ["s", "i", "f", "b", "names", "rows", "obj", "mode"]
    assert props["s"]["type"] == "string"
    assert props["i"]["type"] == "integer"
    assert props["f"]["type"] == "number"
    assert props["b"]["type"] == "boolean"
    assert props["names"]["items"] == {"type": "string"}
    assert props["names"]["description"] == "Some names, continued on the next line."
    assert props["rows"]["items"] == {"type": "object"}
    assert props["obj"]["type"] == "object"
    assert props["mode"]["enum"] == ["a", "b"] and props["mode"]["type"] == "string"
    assert props["maybe"]["type"] == "string"
    assert props["other"]["type"] == "integer"
    assert "default" not in props["maybe"]


def test_tool_decorator_uses_explicit_name_and_builds_openai_spec():
    @tool("read", name="custom")
    def f(ctx: ToolContext, x: str) -> str:
        """Echo x.

        Args:
            x: The value.
        """
        return x

    spec = f.spec()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "custom"
    assert spec["function"]["description"] == "Echo x."
    assert spec["function"]["parameters"]["required"] == ["x"]


def test_tool_decorator_rejects_undocumented_parameter():
    with pytest.raises(ValueError, match="not documented"):

        @tool("read")
        def f(ctx: ToolContext, x: str) -> str:
            """Echo."""
            return x


def test_tool_decorator_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):

        @tool("dangerous")
        def f(ctx: ToolContext) -> str:
            """Nothing."""
            return ""


def test_tool_run_rejects_unknown_argument(ctx):
    with pytest.raises(ToolError, match="unknown argument.*bogus"):
        read_file.run(ctx, {"path": "a", "bogus": 1})


def test_tool_run_rejects_missing_required_argument(ctx):
    with pytest.raises(ToolError, match="missing required argument.*path"):
        read_file.run(ctx, {})


def test_tool_run_treats_null_optional_argument_as_default(ctx, ws):
    (ws / "a.txt").write_text("x\n")
    assert read_file.run(ctx, {"path": "a.txt", "offset": None}) == "     1\tx"


def test_registry_lookup_and_duplicates():
    reg = default_tools()
    assert reg.names() == [
        "read_file",
        "write_file",
        "edit_file",
        "list_files",
        "grep",
        "run_command",
        "todo_write",
    ]
    assert len(reg) == 7 and "grep" in reg and "nope" not in reg
    assert reg.get("grep") is grep and reg.get("nope") is None
    assert [s["function"]["name"] for s in reg.specs()] == reg.names()
    assert [t.name for t in reg] == reg.names()
    with pytest.raises(ValueError):
        reg.add(grep)
    assert len(ToolRegistry()) == 0


def test_tool_kinds_are_set_for_permissions():
    kinds = {t.name: t.kind for t in default_tools()}
    assert kinds == {
        "read_file": "read",
        "write_file": "edit",
        "edit_file": "edit",
        "list_files": "read",
        "grep": "read",
        "run_command": "command",
        "todo_write": "meta",
    }


def test_importing_tools_loads_no_heavy_dependencies():
    code = (
        "import sys, claw_nb.tools; heavy = {'litellm', 'pandas', 'duckdb', 'nbformat'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == "[]"


# --- read_file ---------------------------------------------------------------------------------


def test_read_file_numbers_lines_like_cat_n(ctx, ws):
    (ws / "a.py").write_text("import os\nprint(1)\n")
    assert run(ctx, read_file, path="a.py") == "     1\timport os\n     2\tprint(1)"


def test_read_file_pages_with_offset_and_limit_and_tells_next_offset(ctx, ws):
    (ws / "a.txt").write_text("".join(f"line{i}\n" for i in range(1, 11)))
    out = run(ctx, read_file, path="a.txt", offset=3, limit=2)
    assert out.startswith("     3\tline3\n     4\tline4")
    assert "lines 3-4 of 10" in out and "offset=5" in out


def test_read_file_has_no_footer_when_everything_was_shown(ctx, ws):
    (ws / "a.txt").write_text("a\nb\n")
    assert "offset=" not in run(ctx, read_file, path="a.txt")


def test_read_file_cuts_long_lines(ctx, ws):
    (ws / "a.txt").write_text("x" * 5000 + "\n")
    out = run(ctx, read_file, path="a.txt")
    assert len(out) < 2100 and "cut at 2000" in out


def test_read_file_refuses_binary_file_with_nul_byte(ctx, ws):
    (ws / "b.bin").write_bytes(b"abc\x00def")
    with pytest.raises(ToolError, match="binary"):
        run(ctx, read_file, path="b.bin")


def test_read_file_refuses_undecodable_file(ctx, ws):
    (ws / "b.txt").write_bytes(b"\xff\xfe\xfa not utf8")
    with pytest.raises(ToolError, match="UTF-8"):
        run(ctx, read_file, path="b.txt")


def test_read_file_on_directory_suggests_list_files(ctx, ws):
    (ws / "src").mkdir()
    with pytest.raises(ToolError, match="directory.*list_files"):
        run(ctx, read_file, path="src")


def test_read_file_missing_file_suggests_close_matches(ctx, ws):
    (ws / "src").mkdir()
    (ws / "src" / "main.py").write_text("")
    with pytest.raises(ToolError, match=r"does not exist.*Did you mean.*src/main\.py"):
        run(ctx, read_file, path="src/mian.py")


def test_read_file_records_mtime(ctx, ws):
    f = ws / "a.txt"
    f.write_text("a\n")
    run(ctx, read_file, path="a.txt")
    assert ctx.read_files[str(f)] == f.stat().st_mtime


def test_read_file_offset_past_end_is_an_error(ctx, ws):
    (ws / "a.txt").write_text("a\nb\n")
    with pytest.raises(ToolError, match="has 2 lines"):
        run(ctx, read_file, path="a.txt", offset=5)


def test_read_file_reports_empty_file(ctx, ws):
    (ws / "e.txt").write_text("")
    assert "empty" in run(ctx, read_file, path="e.txt")


# --- write_file --------------------------------------------------------------------------------


def test_write_file_creates_file_and_parent_dirs(ctx, ws):
    out = run(ctx, write_file, path="a/b.py", content="x = 1\ny = 2\n")
    assert out == "Wrote 2 lines (12 bytes) to a/b.py (created)"
    assert (ws / "a" / "b.py").read_text() == "x = 1\ny = 2\n"


def test_write_file_refuses_a_wildcard_path_instead_of_making_a_star_directory(ctx, ws):
    with pytest.raises(ToolError, match="wildcard"):
        run(ctx, write_file, path="**/tmp/newcomer.py", content="x = 1\n")
    assert list(ws.iterdir()) == []
    (ws / "odd*name.txt").write_text("old")  # an existing file with a star stays writable
    assert run(ctx, write_file, path="odd*name.txt", content="new").endswith("(overwritten)")


def test_write_file_overwrites_existing_file(ctx, ws):
    (ws / "a.txt").write_text("old")
    out = run(ctx, write_file, path="a.txt", content="new")
    assert out.endswith("(overwritten)") and (ws / "a.txt").read_text() == "new"


def test_write_file_leaves_no_temp_files_and_keeps_mode(ctx, ws):
    f = ws / "run.sh"
    f.write_text("#!/bin/sh\n")
    f.chmod(0o755)
    run(ctx, write_file, path="run.sh", content="#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(f.stat().st_mode) == 0o755
    assert sorted(p.name for p in ws.iterdir()) == ["run.sh"]


def test_write_file_failure_keeps_old_content_and_removes_temp_file(ctx, ws, monkeypatch):
    (ws / "a.txt").write_text("old")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(ToolError, match="No space left"):
        run(ctx, write_file, path="a.txt", content="new")
    assert (ws / "a.txt").read_text() == "old"
    assert [p.name for p in ws.iterdir()] == ["a.txt"]


def test_write_file_to_directory_is_an_error(ctx, ws):
    (ws / "d").mkdir()
    with pytest.raises(ToolError, match="directory"):
        run(ctx, write_file, path="d", content="x")


def test_write_file_under_a_file_is_an_error(ctx, ws):
    (ws / "f").write_text("x")
    with pytest.raises(ToolError, match="cannot write"):
        run(ctx, write_file, path="f/g.txt", content="x")


# --- edit_file ---------------------------------------------------------------------------------


def test_edit_file_replaces_unique_text_and_returns_diff(ctx, ws):
    (ws / "a.py").write_text("def f():\n    return 1\n")
    out = run(ctx, edit_file, path="a.py", old_string="return 1", new_string="return 2")
    assert (ws / "a.py").read_text() == "def f():\n    return 2\n"
    assert "-    return 1" in out and "+    return 2" in out


def test_edit_file_not_found_shows_closest_line(ctx, ws):
    (ws / "a.py").write_text("alpha = 1\ncounter = compute(x)\nomega = 2\n")
    with pytest.raises(ToolError, match=r"not found(.|\n)*counter = compute\(x\)(.|\n)*whitespace"):
        run(ctx, edit_file, path="a.py", old_string="counter = compute(y)", new_string="z")


def test_edit_file_not_found_mentions_whitespace_difference(ctx, ws):
    (ws / "a.py").write_text("if x:\n    y = 1\n")
    with pytest.raises(ToolError, match="whitespace or indentation"):
        run(ctx, edit_file, path="a.py", old_string="if x:\n  y = 1", new_string="z")


def test_edit_file_ambiguous_match_is_an_error_and_changes_nothing(ctx, ws):
    (ws / "a.txt").write_text("x\nx\nx\n")
    with pytest.raises(ToolError, match="found 3 times.*replace_all=true"):
        run(ctx, edit_file, path="a.txt", old_string="x", new_string="y")
    assert (ws / "a.txt").read_text() == "x\nx\nx\n"


def test_edit_file_replace_all_replaces_every_occurrence(ctx, ws):
    (ws / "a.txt").write_text("x\nx\nx\n")
    out = run(ctx, edit_file, path="a.txt", old_string="x", new_string="y", replace_all=True)
    assert (ws / "a.txt").read_text() == "y\ny\ny\n" and "3 replacements" in out


def test_edit_file_identical_strings_is_an_error(ctx, ws):
    (ws / "a.txt").write_text("x")
    with pytest.raises(ToolError, match="identical"):
        run(ctx, edit_file, path="a.txt", old_string="x", new_string="x")


def test_edit_file_empty_old_string_creates_missing_file(ctx, ws):
    out = run(ctx, edit_file, path="new/f.txt", old_string="", new_string="hello\n")
    assert (ws / "new" / "f.txt").read_text() == "hello\n" and "created" in out


def test_edit_file_empty_old_string_on_existing_file_is_an_error(ctx, ws):
    (ws / "a.txt").write_text("content")
    with pytest.raises(ToolError, match="write_file"):
        run(ctx, edit_file, path="a.txt", old_string="", new_string="x")


def test_edit_file_missing_file_is_an_error(ctx, ws):
    with pytest.raises(ToolError, match="does not exist"):
        run(ctx, edit_file, path="nope.txt", old_string="a", new_string="b")


def test_edit_file_keeps_mode_and_leaves_no_temp_files(ctx, ws):
    f = ws / "s.sh"
    f.write_text("echo a\n")
    f.chmod(0o750)
    run(ctx, edit_file, path="s.sh", old_string="a", new_string="b")
    assert stat.S_IMODE(f.stat().st_mode) == 0o750
    assert [p.name for p in ws.iterdir()] == ["s.sh"]


def test_edit_file_matches_lf_old_string_in_crlf_file(ctx, ws):
    (ws / "w.txt").write_bytes(b"a\r\nb\r\nc\r\n")
    run(ctx, edit_file, path="w.txt", old_string="a\nb", new_string="A\nB")
    assert (ws / "w.txt").read_bytes() == b"A\r\nB\r\nc\r\n"


def test_edit_file_refuses_binary_file(ctx, ws):
    (ws / "b.bin").write_bytes(b"a\x00b")
    with pytest.raises(ToolError, match="binary"):
        run(ctx, edit_file, path="b.bin", old_string="a", new_string="b")


def test_edit_file_caps_the_diff(ctx, ws):
    (ws / "a.txt").write_text("x\n" * 500)
    out = run(ctx, edit_file, path="a.txt", old_string="x", new_string="y", replace_all=True)
    assert "more diff lines" in out and len(out.splitlines()) < 100


# --- list_files --------------------------------------------------------------------------------


def make_tree(ws: Path, files: list[str]) -> None:
    for f in files:
        p = ws / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")


def test_list_files_lists_sorted_relative_paths(ctx, ws):
    make_tree(ws, ["b.py", "a/z.txt", "a/b/c.py"])
    assert run(ctx, list_files).splitlines() == ["a/b/c.py", "a/z.txt", "b.py"]


def test_list_files_skips_git_and_claw_dirs(ctx, ws):
    make_tree(ws, [".git/config", ".claw/log", "keep.py"])
    assert run(ctx, list_files) == "keep.py"


def test_list_files_respects_gitignore(ctx, ws):
    make_tree(ws, ["app.py", "app.log", "build/out.o", "sub/build", "logs/keep.log"])
    (ws / ".gitignore").write_text("# comment\n\n*.log\n!logs/keep.log\nbuild/\n")
    assert run(ctx, list_files).splitlines() == [
        ".gitignore",
        "app.py",
        "logs/keep.log",
        "sub/build",
    ]


def test_list_files_respects_nested_gitignore(ctx, ws):
    make_tree(ws, ["pkg/a.tmp", "pkg/b.py", "c.tmp"])
    (ws / "pkg" / ".gitignore").write_text("*.tmp\n")
    assert run(ctx, list_files).splitlines() == ["c.tmp", "pkg/.gitignore", "pkg/b.py"]


def test_list_files_of_subdirectory(ctx, ws):
    make_tree(ws, ["src/a.py", "src/sub/b.py", "other.py"])
    assert run(ctx, list_files, path="src").splitlines() == ["src/a.py", "src/sub/b.py"]


def test_list_files_pattern_without_slash_matches_names_at_any_depth(ctx, ws):
    make_tree(ws, ["a.py", "x/b.py", "x/c.txt"])
    assert run(ctx, list_files, pattern="*.py").splitlines() == ["a.py", "x/b.py"]


def test_list_files_pattern_with_slash_matches_relative_path(ctx, ws):
    make_tree(ws, ["src/a.py", "src/deep/b.py", "tests/t.py"])
    assert run(ctx, list_files, pattern="src/*.py") == "src/a.py"
    assert run(ctx, list_files, pattern="src/**/*.py").splitlines() == [
        "src/a.py",
        "src/deep/b.py",
    ]


def test_list_files_caps_entries(ctx, ws):
    make_tree(ws, [f"f{i:04}.txt" for i in range(510)])
    lines = run(ctx, list_files).splitlines()
    assert len(lines) == 501 and lines[-1].startswith("... 10 more")


def test_list_files_missing_directory_is_an_error(ctx, ws):
    with pytest.raises(ToolError, match="does not exist"):
        run(ctx, list_files, path="nope")


def test_list_files_no_match_says_so(ctx, ws):
    make_tree(ws, ["a.py"])
    assert "No files match" in run(ctx, list_files, pattern="*.rs")


@pytest.mark.parametrize(
    "rules, path, is_dir, expected",
    [
        ("*.log", "a.log", False, True),
        ("*.log", "deep/dir/a.log", False, True),
        ("*.log\n!keep.log", "keep.log", False, False),
        ("build/", "build", True, True),
        ("build/", "build", False, False),
        ("/top.txt", "top.txt", False, True),
        ("/top.txt", "sub/top.txt", False, False),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "docs/x/a.md", False, False),
        ("**/cache", "a/b/cache", True, True),
        ("a/**/z", "a/z", False, True),
        ("a/**/z", "a/b/c/z", False, True),
        ("logs/**", "logs/x/y.txt", False, True),
        ("file?.txt", "file1.txt", False, True),
        ("file?.txt", "file10.txt", False, False),
        ("f[0-9].txt", "f7.txt", False, True),
        ("f[!0-9].txt", "f7.txt", False, False),
        ("f[!0-9].txt", "fa.txt", False, True),
        ("# *.py", "x.py", False, False),
        ("\\#name", "#name", False, True),
        ("*.py   ", "x.py", False, True),
    ],
)
def test_gitignore_rule_matching(tmp_path, rules, path, is_dir, expected):
    (tmp_path / ".gitignore").write_text(rules + "\n")
    assert GitIgnore(tmp_path).is_ignored(path, is_dir) is expected


def test_gitignore_negation_cannot_reinclude_file_in_ignored_dir(ctx, ws):
    make_tree(ws, ["out/keep.txt", "out/drop.txt"])
    (ws / ".gitignore").write_text("out/\n!out/keep.txt\n")
    assert run(ctx, list_files) == ".gitignore"


# --- grep --------------------------------------------------------------------------------------


def test_grep_reports_file_line_and_text(ctx, ws):
    (ws / "a.py").write_text("x = 1\ndef foo():\n    pass\n")
    (ws / "b.py").write_text("def bar(): ...\n")
    assert run(ctx, grep, pattern=r"def \w+").splitlines() == [
        "a.py:2: def foo():",
        "b.py:1: def bar(): ...",
    ]


def test_grep_filters_by_glob(ctx, ws):
    (ws / "a.py").write_text("needle\n")
    (ws / "a.txt").write_text("needle\n")
    assert run(ctx, grep, pattern="needle", glob="*.py") == "a.py:1: needle"


def test_grep_searches_a_single_file_path(ctx, ws):
    make_tree(ws, ["d/x.txt"])
    (ws / "d" / "x.txt").write_text("one\nneedle\n")
    (ws / "y.txt").write_text("needle\n")
    assert run(ctx, grep, pattern="needle", path="d/x.txt") == "d/x.txt:2: needle"


def test_grep_skips_ignored_and_binary_files(ctx, ws):
    (ws / ".gitignore").write_text("*.log\n")
    (ws / "a.log").write_text("needle\n")
    (ws / "b.bin").write_bytes(b"needle\x00\n")
    (ws / "c.txt").write_text("needle\n")
    assert run(ctx, grep, pattern="needle") == "c.txt:1: needle"


def test_grep_caps_matches(ctx, ws):
    (ws / "a.txt").write_text("hit\n" * 250)
    lines = run(ctx, grep, pattern="hit").splitlines()
    assert len(lines) == 201 and lines[-1].startswith("... 50 more matches")


def test_grep_invalid_regex_names_the_error(ctx, ws):
    with pytest.raises(ToolError, match="invalid regular expression.*missing \\)"):
        run(ctx, grep, pattern="foo(")


def test_grep_without_matches_says_so(ctx, ws):
    (ws / "a.txt").write_text("abc\n")
    assert run(ctx, grep, pattern="zzz").startswith("No matches")


# --- todo_write --------------------------------------------------------------------------------


def test_todo_write_replaces_todos_and_renders_checklist(ctx):
    ctx.todos.append({"id": "old", "content": "stale", "status": "pending"})
    out = run(
        ctx,
        todo_write,
        todos=[
            {"content": "Read the code", "status": "completed"},
            {"content": "Fix the bug", "status": "in_progress", "id": "fix"},
            {"content": "Run tests", "status": "pending"},
        ],
    )
    assert out.splitlines() == [
        "Todos (1/3 completed):",
        "[x] Read the code",
        "[~] Fix the bug  (in progress)",
        "[ ] Run tests",
    ]
    assert [t["id"] for t in ctx.todos] == ["1", "fix", "3"]
    assert ctx.todos[1] == {"id": "fix", "content": "Fix the bug", "status": "in_progress"}


def test_todo_write_rejects_invalid_status(ctx):
    with pytest.raises(ToolError, match="status 'done'.*pending, in_progress, completed"):
        run(ctx, todo_write, todos=[{"content": "x", "status": "done"}])


def test_todo_write_rejects_missing_content(ctx):
    with pytest.raises(ToolError, match="content"):
        run(ctx, todo_write, todos=[{"status": "pending"}])


def test_todo_write_with_empty_list_clears_todos(ctx):
    ctx.todos.append({"id": "1", "content": "x", "status": "pending"})
    assert run(ctx, todo_write, todos=[]) == "Todo list is empty."
    assert ctx.todos == []
