"""DuckDB's interruptions, translated once in `claw_nb.log.database`: real queries, cut while
they run. The query reads a named pipe that a feeder thread keeps writing to, so it runs until
it is interrupted, and the feeder knows it has started (its open returns only then)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from claw_nb.log.database import connected
from claw_nb.stop import CTRL_C, Stopped, StopToken, sigint_stops


def endless_rows(tmp_path: Path, once_reading: Callable[[], None]) -> str:
    """A query over a pipe that never ends; `once_reading` runs when the query has opened it."""
    pipe = tmp_path / "rows.csv"
    os.mkfifo(pipe)

    def feed() -> None:
        try:
            with open(pipe, "w") as out:  # returns once the query has opened the pipe
                once_reading()
                while True:
                    out.write("1\n" * 10_000)
        except BrokenPipeError:  # the interrupted query closed it
            pass

    threading.Thread(target=feed, daemon=True).start()
    return f"SELECT count(*) FROM read_csv('{pipe}', header = false, columns = {{'n': 'INTEGER'}})"


def ctrl_c() -> None:
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def test_a_stop_interrupts_the_running_query_as_stopped_with_its_reason(tmp_path: Path):
    token = StopToken()
    sql = endless_rows(tmp_path, lambda: token.stop("stopped by the test"))
    with pytest.raises(Stopped, match="stopped by the test"):
        with connected(tmp_path / "log.duckdb", stop=token) as con:
            con.execute(sql).fetchall()


def test_a_ctrl_c_that_duckdb_caught_goes_on_as_keyboard_interrupt(tmp_path: Path):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    sql = endless_rows(tmp_path, ctrl_c)
    with pytest.raises(KeyboardInterrupt):  # DuckDB itself says RuntimeError("Query interrupted")
        with connected(tmp_path / "log.duckdb") as con:
            con.execute(sql).fetchall()


def test_under_a_shell_ctrl_c_stops_the_token_which_interrupts_the_query(tmp_path: Path):
    token = StopToken()
    sql = endless_rows(tmp_path, ctrl_c)
    with sigint_stops(token), pytest.raises(Stopped, match=r"Ctrl-C"):
        with connected(tmp_path / "log.duckdb", stop=token) as con:
            con.execute(sql).fetchall()
    assert token.reason == CTRL_C


def test_a_stopped_token_does_not_open_the_log(tmp_path: Path):
    token = StopToken()
    token.stop("stopped before the start")
    with pytest.raises(Stopped, match="before the start"):
        with connected(tmp_path / "log.duckdb", stop=token):
            pass
    assert not (tmp_path / "log.duckdb").exists()
