"""No file tool may read, list, search or change anything outside the workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claw_nb.sandbox import PlainRunner
from claw_nb.tools import ToolContext, ToolError
from claw_nb.tools.files import edit_file, read_file, write_file
from claw_nb.tools.search import grep, list_files
from claw_nb.tools.workspace import resolve_in_workspace

SECRET = "TOP-SECRET-CONTENT"


@pytest.fixture
def layout(tmp_path: Path):
    """ws/ (the workspace) next to outside/ (with a sentinel), plus escaping symlinks in ws."""
    ws = (tmp_path / "ws").resolve()
    outside = (tmp_path / "outside").resolve()
    ws.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    (ws / "sub").mkdir()
    (ws / "inside.txt").write_text("fine\n")
    os.symlink(outside / "secret.txt", ws / "link_file")
    os.symlink(outside, ws / "link_dir")
    os.symlink(outside / "new.txt", ws / "dangling")
    os.symlink("../../outside", ws / "sub" / "rel_link")
    ctx = ToolContext(workspace=ws, runner=PlainRunner())
    return ctx, ws, outside


def snapshot(d: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(d.iterdir())}


# each case: a path given as a template; {out} is the absolute outside dir
FILE_PATHS = [
    "../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "{out}/secret.txt",
    "link_file",
    "link_dir/secret.txt",
    "sub/rel_link/secret.txt",
]
NEW_FILE_PATHS = ["../outside/new.txt", "{out}/new.txt", "dangling", "link_dir/new.txt"]
DIR_PATHS = ["..", "../outside", "{out}", "link_dir", "sub/rel_link", "sub/../.."]


def cases():
    for p in FILE_PATHS:
        yield "read_file", read_file, {"path": p}
        yield "edit_file", edit_file, {"path": p, "old_string": SECRET, "new_string": "PWNED"}
        yield "write_file", write_file, {"path": p, "content": "PWNED"}
        yield "grep", grep, {"pattern": "SECRET", "path": p}
    for p in NEW_FILE_PATHS:
        yield "write_file", write_file, {"path": p, "content": "PWNED"}
        yield "edit_file", edit_file, {"path": p, "old_string": "", "new_string": "PWNED"}
    for p in DIR_PATHS:
        yield "list_files", list_files, {"path": p}
        yield "grep", grep, {"pattern": "SECRET", "path": p}
        yield "write_file", write_file, {"path": p.rstrip("/") + "/x.txt", "content": "PWNED"}


CASES = list(cases())


@pytest.mark.parametrize(
    "tool_obj, args", [(t, a) for _, t, a in CASES], ids=[f"{n}:{a['path']}" for n, _, a in CASES]
)
def test_file_tool_refuses_path_outside_workspace(layout, tool_obj, args):
    ctx, _ws, outside = layout
    before = snapshot(outside)
    args = {k: (v.format(out=outside) if k == "path" else v) for k, v in args.items()}
    with pytest.raises(ToolError, match="outside the workspace"):
        tool_obj.run(ctx, args)
    assert snapshot(outside) == before
    assert (outside / "secret.txt").read_text() == SECRET + "\n"
    assert ctx.read_files == {}


@pytest.mark.parametrize(
    "tool_obj, args",
    [
        (read_file, {"path": "/proc/self/environ"}),
        (list_files, {"path": "/proc/self"}),
        (grep, {"pattern": "x", "path": "/proc/self/status"}),
        (write_file, {"path": "/proc/self/comm", "content": "x"}),
    ],
    ids=["read_file", "list_files", "grep", "write_file"],
)
def test_file_tool_refuses_proc(layout, tool_obj, args):
    ctx, _, _ = layout
    with pytest.raises(ToolError, match="/proc"):
        tool_obj.run(ctx, args)


def test_grep_over_workspace_does_not_follow_symlinks_out(layout):
    ctx, _, _ = layout
    assert grep.run(ctx, {"pattern": "SECRET"}).startswith("No matches")


def test_list_files_over_workspace_does_not_descend_into_outside_symlink(layout):
    ctx, _, _ = layout
    listing = list_files.run(ctx, {}).splitlines()
    assert not any(line.startswith("link_dir/") or "secret" in line for line in listing)


def test_error_message_names_path_and_workspace(layout):
    _ctx, ws, _ = layout
    with pytest.raises(ToolError) as exc:
        resolve_in_workspace(ws, "../x")
    assert str(exc.value) == (
        f"path '../x' is outside the workspace {ws}; use a path relative to the workspace"
    )


def test_symlink_error_says_it_goes_through_a_symlink(layout):
    _ctx, ws, _outside = layout
    with pytest.raises(ToolError, match="through a symlink"):
        resolve_in_workspace(ws, "link_file")


def test_absolute_path_inside_workspace_is_accepted(layout):
    ctx, ws, _ = layout
    assert read_file.run(ctx, {"path": str(ws / "inside.txt")}) == "     1\tfine"


def test_symlink_pointing_inside_workspace_is_accepted(layout):
    ctx, ws, _ = layout
    os.symlink(ws / "inside.txt", ws / "alias")
    assert resolve_in_workspace(ws, "alias") == ws / "inside.txt"
    write_file.run(ctx, {"path": "alias", "content": "changed\n"})
    assert (ws / "inside.txt").read_text() == "changed\n"
    assert (ws / "alias").is_symlink()


def test_dot_dot_that_stays_inside_is_accepted(layout):
    _ctx, ws, _ = layout
    assert resolve_in_workspace(ws, "sub/../inside.txt") == ws / "inside.txt"
    assert resolve_in_workspace(ws, ".") == ws


@pytest.mark.parametrize("bad", ["", "   ", "~/x", "a\x00b"])
def test_unusable_paths_are_refused(layout, bad):
    _, ws, _ = layout
    with pytest.raises(ToolError):
        resolve_in_workspace(ws, bad)
