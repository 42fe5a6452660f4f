"""The file ledger carried into summaries: a file the agent changed is never dropped from it."""

from __future__ import annotations

from claw_nb.context.file_ledger import RECENT_CHANGED, FileLedger


def _folded(calls: list[tuple[str, str, str]]):
    """Tool messages and the call index for (call id, tool, path) triples, all successful."""
    index = {cid: (tool, {"path": path}) for cid, tool, path in calls}
    messages = [{"role": "tool", "tool_call_id": cid, "content": "ok"} for cid, _, _ in calls]
    return messages, index


def test_every_changed_file_stays_in_the_ledger_however_many():
    ledger = FileLedger("/ws")
    calls = [(f"c{i}", "edit_file", f"src/mod_{i:03d}.py") for i in range(60)]
    calls += [("w1", "write_file", "notes.md"), ("r1", "read_file", "README.md")]
    ledger.note(*_folded(calls))
    text = ledger.text()
    for i in range(60):
        assert f"src/mod_{i:03d}.py" in text
    assert "- notes.md: written" in text and "- only read: README.md" in text
    older = next(line for line in text.splitlines() if line.startswith("- edited earlier: "))
    assert older.count("src/mod_") == 60 - RECENT_CHANGED + 1  # notes.md is among the recent


def test_a_failed_call_is_not_recorded_and_changed_outranks_read():
    ledger = FileLedger("/ws")
    messages, index = _folded([("a", "edit_file", "a.py"), ("b", "read_file", "a.py")])
    messages.append({"role": "tool", "tool_call_id": "c", "content": "Error: no such file"})
    index["c"] = ("write_file", {"path": "never.py"})
    ledger.note(messages, index)
    assert ledger.text() == "- a.py: edited"


def test_a_very_long_list_is_cut_with_a_count():
    ledger = FileLedger("/ws")
    ledger.note(
        *_folded([(f"r{i}", "read_file", f"deep/dir/file_{i:04d}.txt") for i in range(500)])
    )
    line = ledger.text()
    assert len(line) < 1700 and line.endswith("more") and "file_0499.txt" in line
