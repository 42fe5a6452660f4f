"""What checkpoints do not keep, said in the report; and a rewind that a planted link cannot
redirect. The recorder is driven by the events the agent emits, here with real tools."""

from __future__ import annotations

import os

import pytest

from claw_nb import events as ev
from claw_nb.checkpoints import Action, Checkpoints, CheckpointStore, rewind_files
from claw_nb.checkpoints import scan as scan_module
from claw_nb.checkpoints.live_cells import apply_edits, cell_edits
from claw_nb.checkpoints.store import CheckpointError
from claw_nb.sandbox import PlainRunner
from claw_nb.tools import ToolContext, default_tools

SESSION = "s1"


class Session:
    """Tool calls run the way the agent runs them: ToolCallStarted, the tool, ToolCallFinished."""

    def __init__(self, workspace, store):
        self.tools = default_tools()
        self.checkpoints = Checkpoints(store, workspace)
        self.context = ToolContext(workspace=workspace, runner=PlainRunner())
        self.step = 0

    def call(self, tool: str, **arguments) -> str:
        self.step += 1
        known = self.tools.get(tool)
        started = ev.ToolCallStarted(
            SESSION,
            self.step,
            f"c{self.step}",
            tool,
            arguments,
            "",
            kind=known.kind,
            primary_argument=known.primary_argument,
        )
        self.checkpoints(started)
        result = self.tools.get(tool).run(self.context, arguments)
        self.checkpoints(
            ev.ToolCallFinished(
                SESSION, self.step, f"c{self.step}", tool, arguments, "", ok=True, result=result
            )
        )
        return result


@pytest.fixture
def store(tmp_path):
    return CheckpointStore(tmp_path / "checkpoints")


@pytest.fixture
def session(workspace, store):
    return Session(workspace, store)


def test_a_file_over_the_size_limit_is_reported_as_not_restorable(
    session, store, workspace, monkeypatch
):
    monkeypatch.setattr(scan_module, "MAX_FILE_BYTES", 100)
    (workspace / "big.bin").write_bytes(b"x" * 500)
    (workspace / "small.txt").write_text("small\n")
    session.call("run_command", command="echo more >> big.bin && echo changed > small.txt")

    report = rewind_files(store, SESSION)

    (cannot,) = report.of(Action.CANNOT)
    assert cannot.path == "big.bin" and "MiB limit" in cannot.why
    assert (workspace / "small.txt").read_text() == "small\n"


def test_a_scan_reads_no_more_than_its_budget(session, store, workspace, monkeypatch):
    monkeypatch.setattr(scan_module, "MAX_SCAN_BYTES", 150)
    (workspace / "big.dat").write_bytes(b"b" * 200)
    (workspace / "small.txt").write_text("small\n")
    session.call("run_command", command="echo x >> big.dat && echo x >> small.txt")

    report = rewind_files(store, SESSION)

    assert (workspace / "small.txt").read_text() == "small\n"
    (cannot,) = report.of(Action.CANNOT)
    assert cannot.path == "big.dat" and "read budget was spent" in cannot.why


def test_a_workspace_with_too_many_files_reports_its_commands_as_unrecorded(
    session, store, workspace, monkeypatch
):
    monkeypatch.setattr(scan_module, "MAX_FILES", 3)
    for n in range(5):
        (workspace / f"f{n}.txt").write_text(str(n))
    session.call("run_command", command="echo changed > f0.txt")

    report = rewind_files(store, SESSION)

    assert report.paths == [] and not report.ok
    (line,) = report.lines()
    assert "not recorded" in line and "more than 3 files" in line


def test_ignored_folders_are_not_scanned(session, store, workspace):
    (workspace / ".gitignore").write_text("build/\n")
    session.call(
        "run_command",
        command="mkdir -p build node_modules/x && echo 1 > build/out && echo 2 > node_modules/x/i"
        " && echo 3 > kept.txt",
    )
    assert [c.path for c in store.load(SESSION).changes] == ["kept.txt"]


def test_a_file_a_command_only_touched_is_not_a_change(session, store, workspace):
    (workspace / "a.txt").write_text("same")
    session.call("run_command", command="touch a.txt && chmod 600 a.txt")
    assert store.load(SESSION) is None


def test_identical_content_is_stored_once(session, store, workspace):
    for name in ("a.txt", "b.txt", "c.txt"):
        (workspace / name).write_text("the same bytes\n")
    session.call("run_command", command="rm a.txt b.txt c.txt")
    assert len(list((store.root / "blobs").rglob("*"))) == 2  # one folder, one blob


def test_a_link_planted_in_place_of_a_folder_is_not_followed_by_a_rewind(
    session, store, workspace, tmp_path
):
    (workspace / "sub").mkdir()
    (workspace / "sub" / "a.py").write_text("before\n")
    session.call("write_file", path="sub/a.py", content="after\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.py").write_text("after\n")  # the content the rewind expects to find
    (workspace / "sub" / "a.py").unlink()
    (workspace / "sub").rmdir()
    os.symlink(outside, workspace / "sub")

    report = rewind_files(store, SESSION, force=True)

    assert (outside / "a.py").read_text() == "after\n"
    assert [p.action for p in report.paths] == [Action.CANNOT]


def test_a_damaged_record_cannot_name_a_path_outside_the_workspace(store, workspace, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    store.record(
        SESSION,
        workspace,
        {"step": 1, "tool": "write_file", "path": "../victim.txt", "before": None, "after": None},
    )
    report = rewind_files(store, SESSION, force=True)
    assert victim.read_text() == "mine"
    assert [p.action for p in report.paths] == [Action.CANNOT]


def test_the_store_refuses_a_session_id_that_is_a_path(store):
    with pytest.raises(CheckpointError, match="not a session id"):
        store.load("../../etc/passwd")


@pytest.mark.parametrize(
    ("now", "target"),
    [
        ([("code", "a"), ("code", "b")], [("code", "a")]),
        ([("code", "a")], [("code", "a"), ("markdown", "m"), ("code", "b")]),
        ([("code", "x"), ("code", "b"), ("code", "y")], [("code", "a"), ("code", "b")]),
        ([("code", "a")], [("markdown", "a")]),
        ([], [("code", "a")]),
        ([("code", "a"), ("code", "a")], []),
    ],
)
def test_live_cell_edits_turn_the_cells_now_into_the_cells_before(now, target):
    assert apply_edits(now, cell_edits(now, target)) == target


def test_live_cell_edits_replace_in_place_rather_than_delete_and_insert():
    edits = cell_edits([("code", "a"), ("code", "b")], [("code", "a"), ("code", "B")])
    assert edits == [("replace", 1, "code", "B")]


def test_a_call_that_never_ran_records_nothing(session, store, workspace):
    (workspace / "a.txt").write_text("1")
    arguments = {"command": "rm a.txt"}
    session.checkpoints(ev.ToolCallStarted(SESSION, 1, "c1", "run_command", arguments, ""))
    (workspace / "a.txt").write_text("the user's change while the approval was asked")
    session.checkpoints(
        ev.ToolCallFinished(
            SESSION,
            1,
            "c1",
            "run_command",
            arguments,
            "",
            ok=False,
            result="",
            error_kind="denied",
        )
    )
    assert store.load(SESSION) is None


def test_the_notebook_the_kernel_runs_in_is_never_recorded_for_a_rewrite(
    store, workspace, monkeypatch
):
    from claw_nb.checkpoints.live_cells import LiveCells
    from claw_nb.tools.notebook.binding import NotebookBinding

    (workspace / "open.ipynb").write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", str(workspace / "open.ipynb"))
    session = Session(workspace, store)
    session.checkpoints = Checkpoints(store, workspace, live=LiveCells(NotebookBinding()))
    session.call("run_command", command="echo saved >> open.ipynb && echo x > other.txt")
    assert [c.path for c in store.load(SESSION).changes] == ["other.txt"]


def test_the_scan_index_is_saved_when_the_run_ends_not_after_every_command(
    session, store, workspace
):
    """The next process reads it (unchanged files are not read again); this one keeps it."""
    (workspace / "a.txt").write_text("a")
    session.call("run_command", command="echo b > b.txt")
    assert store.load_index(workspace) == {}
    session.checkpoints(ev.SessionEnded(SESSION, stop_reason="completed", steps=1))
    assert set(store.load_index(workspace)) == {"a.txt", "b.txt"}
