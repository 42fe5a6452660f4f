"""Files written for the agent are fsynced together when a run ends, not one by one on its path
(`claw_nb.durable`): what is handed over is kept, synced at a flush, and always closed."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from claw_nb import durable
from claw_nb.log.journal import JournalWriter
from claw_nb.tools.safe_io import write_atomic


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture(autouse=True)
def nothing_waiting():
    durable.wait()
    yield
    durable.wait()


def test_an_edit_is_written_at_once_and_its_descriptors_wait_for_the_flush(tmp_path: Path):
    before = open_fds()
    write_atomic(tmp_path, tmp_path / "a.txt", b"new\n")
    assert (tmp_path / "a.txt").read_bytes() == b"new\n"  # every reader sees it now
    assert durable.pending() == 1
    assert len(open_fds() - before) == 2  # the file and its folder, kept open until the flush
    assert durable.wait(timeout=30)
    assert durable.pending() == 0 and open_fds() == before


def test_edits_wait_until_a_journal_closes(tmp_path: Path):
    write_atomic(tmp_path, tmp_path / "a.txt", b"x")
    journal = JournalWriter(tmp_path / "journals", "s1")
    journal.append(b'{"event": "x"}\n')
    assert durable.pending() == 1 and durable._worker is None  # nothing synced mid-run
    journal.close()  # a session ended: the flush starts (in the background)
    assert durable.wait(timeout=30) and durable.pending() == 0


def test_too_many_waiting_descriptors_start_a_flush_by_themselves(tmp_path: Path):
    for i in range(durable.MAX_PENDING + 1):
        path = tmp_path / f"f{i}"
        path.write_text("x")
        durable.sync_later(os.open(path, os.O_RDONLY))
    assert durable._worker is not None or durable.pending() == 0
    assert durable.wait(timeout=30)


def test_a_descriptor_that_cannot_be_synced_is_said_and_closed(caplog):
    read_end, write_end = os.pipe()  # fsync of a pipe fails (EINVAL)
    os.close(read_end)
    with caplog.at_level(logging.WARNING, logger="claw_nb"):
        durable.sync_later(write_end)
        assert durable.wait(timeout=30)
    assert "could not be flushed" in caplog.text
    with pytest.raises(OSError):
        os.fstat(write_end)
