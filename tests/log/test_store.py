"""The DuckDB log: journals, ingest, crash recovery, concurrency, migrations, read helpers.

Real DuckDB files under tmp_path and real subprocesses (writers, a reader, a lock holder, a
process killed with SIGKILL).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import duckdb
import pytest

from claw_nb import events as ev
from claw_nb.log import ingest as ingest_module
from claw_nb.log import store
from claw_nb.log.journal import JournalWriter, encode_event
from claw_nb.log.journal_paths import journal_dir
from claw_nb.log.journal_reader import list_journals
from tests.helpers import query

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "You are a careful coding agent.\nWork in $workspace.\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def started(sid: str, task: str = "fix the bug", prompt: str = PROMPT, **kw) -> ev.SessionStarted:
    return ev.SessionStarted(
        sid,
        model="openai/test",
        workspace="/ws",
        task=task,
        system_prompt=prompt,
        system_prompt_sha=sha(prompt),
        system_prompt_name="default",
        **kw,
    )


def tiny_call(sid: str, step: int) -> ev.ModelCallFinished:
    """A model call of one token each way: for rows that need a call, not its figures."""
    return ev.ModelCallFinished(
        sid,
        step=step,
        model="m",
        prompt_tokens=1,
        completion_tokens=1,
        latency_ms=1.0,
        ttft_ms=None,
        finish_reason="stop",
    )


def assistant_call(call_id: str, name: str, args: dict) -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ],
    }


def conversation(sid: str) -> list[dict]:
    return [
        {"role": "system", "content": PROMPT},
        {"role": "user", "content": "fix the bug"},
        assistant_call("call_1", "read_file", {"path": "a.py"}),
        {"role": "tool", "tool_call_id": "call_1", "name": "read_file", "content": "x = 1\n"},
        {"role": "assistant", "content": 'Fixed: ünïcode ✓ and a "quote"\nnewline'},
    ]


def full_session(log, sid: str = "s1") -> list[dict]:
    """Emit one session of every event type; the conversation it logged."""
    messages = conversation(sid)
    log(started(sid))
    log(ev.MessageAdded(sid, 0, messages[0]))
    log(ev.MessageAdded(sid, 1, messages[1]))
    log(ev.TextDelta(sid, 1, "thinking..."))
    log(
        ev.ModelCallFinished(
            sid,
            step=1,
            model="openai/test",
            prompt_tokens=1200,
            completion_tokens=40,
            latency_ms=900.0,
            ttft_ms=100.0,
            finish_reason="tool_calls",
            streamed=True,
            message_count=2,
            cached_tokens=1000,
            cost_usd=0.0,
            params={"temperature": 0.2},
            parts={"system": 800, "tools": 300, "history": 100},
        )
    )
    log(ev.MessageAdded(sid, 2, messages[2]))
    log(ev.ToolCallStarted(sid, 1, "call_1", "read_file", {"path": "a.py"}, '{"path": "a.py"}'))
    log(
        ev.ToolCallFinished(
            sid,
            step=1,
            call_id="call_1",
            tool="read_file",
            arguments={"path": "a.py"},
            raw_arguments='{"path": "a.py"}',
            ok=True,
            result="x = 1\n",
            duration_ms=2.5,
            decision="allowed: read-only tool",
            result_chars=6,
            result_chars_sent=6,
        )
    )
    log(ev.TodosUpdated(sid, ({"content": "fix", "status": "in_progress"},)))
    log(ev.MessageAdded(sid, 3, messages[3]))
    log(
        ev.ToolCallFinished(
            sid,
            step=1,
            call_id="call_2",
            tool="run_command",
            arguments={"command": "false"},
            raw_arguments='{"command": "false"}',
            ok=False,
            result="",
            error="Error: exit 1",
            error_kind="tool_error",
            duration_ms=7.5,
            result_chars=13,
            result_chars_sent=13,
        )
    )
    log(ev.ErrorOccurred(sid, kind="retry", message="attempt 1 failed"))
    log(
        ev.ModelCallFinished(
            sid,
            step=2,
            model="openai/test",
            prompt_tokens=1300,
            completion_tokens=10,
            latency_ms=300.0,
            ttft_ms=None,
            finish_reason="stop",
        )
    )
    log(ev.MessageAdded(sid, 4, messages[4]))
    log(ev.FinalAnswer(sid, messages[4]["content"]))
    log(ev.SessionEnded(sid, stop_reason="completed", steps=2))
    return messages


def run_script(code: str, *args: str, **kw) -> subprocess.Popen:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "claw.duckdb"


# --- writing and ingesting ---------------------------------------------------------------------


def test_importing_store_loads_neither_duckdb_nor_pandas():
    code = (
        "import sys, claw_nb.log.store; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'duckdb', 'pandas', 'numpy', 'litellm'}))"
    )
    proc = run_script(code)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == "[]"


@pytest.fixture(params=["lists", "pandas"])
def insert_via(request, monkeypatch) -> str:
    """Both ways rows reach DuckDB: typed lists (small batches) and DataFrames (big ones).

    Which one a batch takes depends on its size and on whether pandas is loaded; moving the
    size threshold above or below every batch here makes each path run."""
    threshold = 10**9 if request.param == "lists" else 0
    monkeypatch.setattr(ingest_module, "PANDAS_MIN_ROWS", threshold)
    monkeypatch.setattr(ingest_module, "PANDAS_LOADED_MIN_ROWS", threshold)
    return request.param


def test_every_event_lands_in_its_table(db: Path, insert_via: str):
    log = store.EventLog(db, ingest_at_end=False)
    full_session(log)
    [journal] = list_journals(journal_dir(db))
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [line["_ev"] for line in lines].count("TextDelta") == 0
    assert len(lines) == 15
    assert lines[0]["_pid"] == os.getpid()

    assert store.ingest(db) == 15
    assert list_journals(journal_dir(db)) == []  # writer closed at SessionEnded: journal done

    [session] = query(
        db,
        "SELECT session_id, model, workspace, task, stop_reason, steps, "
        "system_prompt_sha, system_prompt_name, pid, final_answer, "
        "ended_at >= started_at FROM sessions",
    )
    assert session == (
        "s1",
        "openai/test",
        "/ws",
        "fix the bug",
        "completed",
        2,
        sha(PROMPT),
        "default",
        os.getpid(),
        conversation("s1")[4]["content"],
        True,
    )
    assert query(db, "SELECT sha, name, text FROM prompts") == [(sha(PROMPT), "default", PROMPT)]

    rows = query(
        db,
        "SELECT seq, role, content, tool_calls, tool_call_id, name, prompt_sha "
        "FROM messages ORDER BY seq",
    )
    assert [r[:2] for r in rows] == [
        (0, "system"),
        (1, "user"),
        (2, "assistant"),
        (3, "tool"),
        (4, "assistant"),
    ]
    assert rows[0][2] is None and rows[0][6] == sha(PROMPT)  # the prompt text lives in prompts
    assert json.loads(rows[2][3])[0]["function"]["name"] == "read_file"
    assert rows[3][4:6] == ("call_1", "read_file")
    assert rows[4][2] == conversation("s1")[4]["content"]

    calls = query(
        db,
        "SELECT step, prompt_tokens, completion_tokens, cached_tokens, latency_ms, "
        "ttft_ms, tokens_per_s, finish_reason, streamed, message_count, params, "
        "parts FROM llm_calls ORDER BY step",
    )
    assert calls[0][:10] == (1, 1200, 40, 1000, 900.0, 100.0, 50.0, "tool_calls", True, 2)
    assert json.loads(calls[0][10]) == {"temperature": 0.2}
    assert json.loads(calls[0][11]) == {"system": 800, "tools": 300, "history": 100}
    assert calls[1][6] == pytest.approx(10 / 0.3)  # no ttft: the whole call

    tools = query(
        db,
        "SELECT call_id, tool, arguments, ok, error_kind, error, duration_ms, "
        "decision, result_chars FROM tool_calls ORDER BY call_id",
    )
    assert tools[0] == (
        "call_1",
        "read_file",
        '{"path": "a.py"}',
        True,
        None,
        None,
        2.5,
        "allowed: read-only tool",
        6,
    )
    assert tools[1][:6] == (
        "call_2",
        "run_command",
        '{"command": "false"}',
        False,
        "tool_error",
        "Error: exit 1",
    )
    assert query(db, "SELECT kind, message FROM errors") == [("retry", "attempt 1 failed")]
    [(todos,)] = query(db, "SELECT todos FROM todos")
    assert json.loads(todos) == [{"content": "fix", "status": "in_progress"}]

    assert store.ingest(db) == 0  # nothing twice
    assert query(db, "SELECT count(*) FROM llm_calls") == [(2,)]


def test_session_end_ingests_and_deletes_the_journal(db: Path):
    log = store.EventLog(db)
    full_session(log)
    assert list_journals(journal_dir(db)) == []
    assert query(db, "SELECT stop_reason FROM sessions") == [("completed",)]
    assert query(db, "SELECT count(*) FROM messages") == [(5,)]


def test_connection_held_in_this_process_does_not_block_the_log(db: Path):
    con = store.connect(db)  # a notebook keeping its connection open
    try:
        full_session(store.EventLog(db))
        assert con.execute("SELECT stop_reason FROM sessions").fetchall() == [("completed",)]
        assert list_journals(journal_dir(db)) == []
    finally:
        con.close()


def test_two_databases_in_one_directory_keep_their_own_journals(tmp_path: Path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    full_session(store.EventLog(a, ingest_at_end=False), "sa")
    full_session(store.EventLog(b, ingest_at_end=False), "sb")
    store.ingest(a)
    store.ingest(b)
    assert query(a, "SELECT session_id FROM sessions") == [("sa",)]
    assert query(b, "SELECT session_id FROM sessions") == [("sb",)]


def test_prompt_is_stored_once_across_sessions(db: Path):
    for sid in ("s1", "s2", "s3"):
        full_session(store.EventLog(db), sid)
    assert query(db, "SELECT count(*) FROM prompts") == [(1,)]
    assert query(
        db, "SELECT count(*) FROM sessions WHERE system_prompt_sha = ?", [sha(PROMPT)]
    ) == [(3,)]
    assert query(db, "SELECT count(*) FROM messages WHERE role = 'system' AND content IS NULL") == [
        (3,)
    ]
    assert store.load_messages(db, "s2")[0] == {"role": "system", "content": PROMPT}


def test_load_messages_round_trip_for_resuming(db: Path, insert_via: str):
    messages = full_session(store.EventLog(db))
    assert store.load_messages(db, "s1") == messages
    assert store.load_messages(db, "nope") == []

    # Parts content and unknown keys survive too.
    log = store.EventLog(db)
    parts = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}]
    odd = [
        {"role": "system", "content": "short prompt"},
        {"role": "user", "content": parts},
        {"role": "assistant", "content": "ok", "reasoning_content": "hmm"},
    ]
    log(started("p1", prompt="short prompt"))
    for seq, message in enumerate(odd):
        log(ev.MessageAdded("p1", seq, message))
    log(ev.SessionEnded("p1", "completed", steps=1))
    assert store.load_messages(db, "p1") == odd

    # A new session resumed from s1 with its history: load_messages gives the whole thread.
    log = store.EventLog(db)
    log(started("r1", task="now add a test", resumed_from="s1"))
    follow_up = [
        {"role": "user", "content": "now add a test"},
        {"role": "assistant", "content": "Added."},
    ]
    for seq, message in enumerate(follow_up, start=len(messages)):
        log(ev.MessageAdded("r1", seq, message))
    log(ev.SessionEnded("r1", "completed", steps=3))
    assert store.load_messages(db, "r1") == messages + follow_up
    assert query(db, "SELECT resumed_from FROM sessions WHERE session_id = 'r1'") == [("s1",)]


def test_a_second_run_of_the_same_session_continues_it(db: Path, insert_via: str):
    log = store.EventLog(db, ingest_at_end=False)
    messages = full_session(log)
    store.ingest(db)
    [(first_started,)] = query(db, "SELECT started_at FROM sessions")
    log(started("s1", task="and again"))
    log(ev.MessageAdded("s1", 5, {"role": "user", "content": "and again"}))
    store.ingest(db)
    assert query(db, "SELECT task, stop_reason, started_at FROM sessions") == [
        ("fix the bug", None, first_started)
    ]  # running again
    log(ev.MessageAdded("s1", 6, {"role": "assistant", "content": "done again"}))
    log(ev.SessionEnded("s1", "completed", steps=3))
    store.ingest(db)
    assert query(db, "SELECT stop_reason, steps FROM sessions") == [("completed", 3)]
    assert len(store.load_messages(db, "s1")) == len(messages) + 2


def test_a_message_logged_again_under_its_seq_replaces_the_old_one(db: Path, insert_via: str):
    log = store.EventLog(db, ingest_at_end=False)
    log(started("s1"))
    log(ev.MessageAdded("s1", 0, {"role": "user", "content": "first"}))
    log(ev.MessageAdded("s1", 1, {"role": "assistant", "content": "old"}))
    log(ev.MessageAdded("s1", 1, {"role": "assistant", "content": "same batch"}))
    store.ingest(db)
    log(ev.MessageAdded("s1", 1, {"role": "assistant", "content": "new"}))
    log(ev.SessionEnded("s1", "completed"))
    store.ingest(db)
    assert store.load_messages(db, "s1") == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "new"},
    ]


def test_odd_values_survive(db: Path, insert_via: str):
    log = store.EventLog(db, ingest_at_end=False)
    log(started("o"))
    log(
        ev.ModelCallFinished(
            "o",
            step=1,
            model="m",
            prompt_tokens=0,
            completion_tokens=0,
            latency_ms=0.0,
            ttft_ms=None,
            finish_reason=None,
            params={"nan": float("nan"), "path": Path("a/b"), "set": {1}},
        )
    )
    log(
        ev.ToolCallFinished(
            "o",
            step=1,
            call_id="c",
            tool="read_file",
            arguments=None,
            raw_arguments="{not json",
            ok=False,
            result="nul\x00byte \udcff",
            error_kind="malformed_json",
        )
    )
    log(ev.MessageAdded("o", 0, {"role": "user", "content": None}))
    log(ev.SessionEnded("o", "completed"))
    assert store.ingest(db) == 5
    [(params, tokens_per_s)] = query(db, "SELECT params, tokens_per_s FROM llm_calls")
    assert json.loads(params) == {"nan": None, "path": "a/b", "set": [1]}
    assert tokens_per_s is None
    [(arguments, raw, result)] = query(
        db, "SELECT arguments, raw_arguments, result FROM tool_calls"
    )
    assert (arguments, raw) == (None, "{not json")
    assert result.startswith("nul\x00byte")
    assert store.load_messages(db, "o") == [{"role": "user", "content": None}]


def test_session_summary_and_list_sessions(db: Path):
    full_session(store.EventLog(db), "s1")
    log = store.EventLog(db)
    log(started("s2"))
    log(ev.SessionEnded("s2", "model_unreachable", steps=0))
    summary = store.session_summary(db).set_index("session_id")
    row = summary.loc["s1"]
    assert (row.llm_calls, row.prompt_tokens, row.completion_tokens) == (2, 2500, 50)
    assert (row.tool_calls, row.tool_errors, row.steps) == (2, 1, 2)
    assert (row.model_ms, row.tool_ms, row.stop_reason) == (1200.0, 10.0, "completed")
    assert summary.loc["s2"].llm_calls == 0 and summary.loc["s2"].stop_reason == "model_unreachable"
    sessions = store.list_sessions(db)
    assert list(sessions.session_id) == ["s2", "s1"]  # newest first
    assert {"model", "task", "stop_reason", "steps", "started_at"} <= set(sessions.columns)


def test_read_helpers_on_a_missing_log_create_nothing(tmp_path: Path):
    db = tmp_path / "nothing" / "claw.duckdb"
    assert store.list_sessions(db).empty
    assert store.session_summary(db).empty
    assert store.load_messages(db, "x") == []
    assert not db.parent.exists()


def test_default_db_path(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CLAW_DB", raising=False)
    assert store.default_db_path(tmp_path) == tmp_path / ".claw" / "claw.duckdb"
    monkeypatch.chdir(tmp_path)
    assert store.default_db_path() == Path.cwd() / ".claw" / "claw.duckdb"
    monkeypatch.setenv("CLAW_DB", str(tmp_path / "elsewhere.duckdb"))
    assert store.default_db_path(tmp_path) == tmp_path / "elsewhere.duckdb"
    assert store.EventLog().db_path == tmp_path / "elsewhere.duckdb"


def test_journal_append_is_cheap(db: Path):
    log = store.EventLog(db, ingest_at_end=False)
    log(started("fast"))
    message = {"role": "tool", "tool_call_id": "c", "name": "read_file", "content": "x" * 2000}
    n = 2000
    rounds = []
    for _ in range(3):  # best of three: a busy machine can stall any one round
        begin = time.perf_counter()
        for seq in range(n):
            log(ev.MessageAdded("fast", seq, message))
        rounds.append((time.perf_counter() - begin) * 1000 / n)
    assert min(rounds) < 0.5, rounds


# --- partial lines and dead writers ------------------------------------------------------------


def test_partial_trailing_line_waits_for_a_live_writer(db: Path):
    writer = JournalWriter(journal_dir(db), "live")
    first = encode_event(started("p"))
    writer.append(first)
    line = encode_event(ev.MessageAdded("p", 0, {"role": "user", "content": "hello"}))
    writer.append(line[:20])  # the writer is in the middle of this line
    assert store.ingest(db) == 1
    assert query(db, "SELECT count(*) FROM messages") == [(0,)]
    assert query(db, 'SELECT "offset" FROM journal_offsets') == [(len(first),)]
    assert writer.path.exists()
    writer.append(line[20:])
    assert store.ingest(db) == 1
    assert query(db, "SELECT content FROM messages") == [("hello",)]
    assert query(db, "SELECT stop_reason FROM sessions") == [(None,)]  # still running
    writer.close()


def test_partial_trailing_line_of_a_dead_writer_is_dropped(db: Path):
    writer = JournalWriter(journal_dir(db), "dead")
    writer.append(encode_event(started("d")))
    writer.append(encode_event(ev.MessageAdded("d", 0, {"role": "user", "content": "hi"})))
    cut = encode_event(ev.MessageAdded("d", 1, {"role": "assistant", "content": "cut"}))
    writer.append(cut[:25])
    writer.close()  # the lock is free: as good as dead
    assert store.ingest(db) == 2
    assert query(db, "SELECT seq, content FROM messages") == [(0, "hi")]
    assert query(db, "SELECT stop_reason FROM sessions") == [("abnormal",)]
    assert list_journals(journal_dir(db)) == []
    assert store.ingest(db) == 0
    assert query(db, "SELECT count(*) FROM journal_offsets") == [(0,)]  # forgotten once gone


def test_unreadable_lines_are_skipped(db: Path):
    writer = JournalWriter(journal_dir(db), "junk")
    writer.append(encode_event(started("j")) + b"not json\n" + b'{"no": "type"}\n')
    writer.append(encode_event(ev.SessionEnded("j", "completed")))
    writer.close()
    assert store.ingest(db) == 2
    assert query(db, "SELECT stop_reason FROM sessions") == [("completed",)]


WRITER_KILLED = """
import sys, time
from claw_nb import events as ev
from claw_nb.log.store import EventLog
prompt = "p\\n"
log = EventLog(sys.argv[1])
log(ev.SessionStarted("k1", model="m", workspace="w", task="t", system_prompt=prompt,
                      system_prompt_sha="x", system_prompt_name="default"))
for seq in range(5):
    log(ev.MessageAdded("k1", seq, {"role": "user", "content": f"m{seq}"}))
log(ev.ModelCallFinished("k1", step=1, model="m", prompt_tokens=10, completion_tokens=2,
                         latency_ms=5.0, ttft_ms=None, finish_reason="tool_calls"))
log(ev.ToolCallStarted("k1", 1, "c1", "run_command", {"command": "sleep 60"}, "{}"))
print("ready", flush=True)
time.sleep(120)
"""


def test_sigkilled_writer_leaves_an_abnormal_session_with_its_events(db: Path):
    proc = run_script(WRITER_KILLED, str(db))
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        # While the writer lives its session shows as running and its journal stays.
        assert store.ingest(db) == 8
        assert query(db, "SELECT stop_reason, steps FROM sessions") == [(None, 1)]
        [journal] = list_journals(journal_dir(db))
        last_t = json.loads(journal.read_text().splitlines()[-1])["_t"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert store.ingest(db) == 0
    [(stop, ended, pid)] = query(db, "SELECT stop_reason, epoch(ended_at), pid FROM sessions")
    assert stop == "abnormal"
    assert ended == pytest.approx(last_t, abs=1e-3)
    assert pid == proc.pid
    assert query(db, "SELECT count(*) FROM messages WHERE session_id = 'k1'") == [(5,)]
    assert query(db, "SELECT count(*) FROM llm_calls") == [(1,)]
    assert list_journals(journal_dir(db)) == []


# --- concurrency -------------------------------------------------------------------------------

CONCURRENT_WRITER = """
import sys, time
from pathlib import Path
from claw_nb import events as ev
from claw_nb.log.store import EventLog
db, sid, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
while not go.exists():
    time.sleep(0.005)
log = EventLog(db)
log(ev.SessionStarted(sid, model="m", workspace="w", task="t", system_prompt="p\\n",
                      system_prompt_sha="x", system_prompt_name="default"))
for seq in range(n - 2):
    log(ev.MessageAdded(sid, seq, {"role": "user", "content": f"{sid}-{seq}"}))
    if seq % 25 == 0:
        time.sleep(0.02)  # spread the writing out so that the reader ingests meanwhile
log(ev.SessionEnded(sid, "completed", steps=0))
log.close()
print("events", n)
"""

READER_LOOP = """
import sys, time
from pathlib import Path
import duckdb
from claw_nb.log.store import ingest
db, stop = sys.argv[1], Path(sys.argv[2])
rounds = total = 0
while not stop.exists():
    total += ingest(db, timeout=30)
    rounds += 1
print(rounds, total)
"""


@pytest.mark.slow
def test_four_writers_and_a_reader_lose_nothing(db: Path, tmp_path: Path):
    go, stop = tmp_path / "go", tmp_path / "stop"
    n = 1000
    store.ingest(db)  # the file exists before the race starts
    reader = run_script(READER_LOOP, str(db), str(stop))
    writers = [run_script(CONCURRENT_WRITER, str(db), f"w{i}", str(n), str(go)) for i in range(4)]
    time.sleep(0.3)
    go.touch()
    results = [w.communicate(timeout=120) for w in writers]
    stop.touch()
    reader_out, reader_err = reader.communicate(timeout=120)
    for writer, (out, err) in zip(writers, results):
        assert writer.returncode == 0, err
        assert out.strip() == f"events {n}"
        assert err == "", err  # no lock error, no warning
    assert reader.returncode == 0, reader_err
    assert "Error" not in reader_err, reader_err
    rounds, reader_total = map(int, reader_out.split())
    assert rounds >= 1 and reader_total > 0  # the reader took lines from live journals

    final = store.ingest(db)
    assert reader_total + final <= 4 * n
    assert query(db, "SELECT count(*), count(DISTINCT content) FROM messages") == [
        (4 * (n - 2), 4 * (n - 2))
    ]
    assert query(db, "SELECT session_id, stop_reason FROM sessions ORDER BY 1") == [
        (f"w{i}", "completed") for i in range(4)
    ]
    # Every event is in exactly once: 4 x (1 start + 998 messages + 1 end).
    assert query(db, "SELECT count(*) FROM messages GROUP BY session_id") == [(n - 2,)] * 4
    assert list_journals(journal_dir(db)) == []


def test_threads_of_one_process_ingesting_at_once_lose_and_double_nothing(db: Path):
    import threading

    store.ingest(db)
    done = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        while not done.is_set():
            try:
                store.ingest(db)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    log = store.EventLog(db, ingest_at_end=False)
    log(started("t"))
    for seq in range(600):
        log(ev.MessageAdded("t", seq, {"role": "user", "content": str(seq)}))
        log(ev.ErrorOccurred("t", kind="retry", message=str(seq)))  # no key: would double
        if seq % 50 == 0:
            time.sleep(0.01)
    log(ev.SessionEnded("t", "completed"))
    done.set()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    store.ingest(db)
    assert query(db, "SELECT count(*), count(DISTINCT message) FROM errors") == [(600, 600)]
    assert query(db, "SELECT count(*) FROM messages") == [(600,)]


# --- the lock ----------------------------------------------------------------------------------

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_connect_waits_for_a_writer_to_let_go(db: Path):
    store.ingest(db)
    holder = run_script(HOLDER, str(db), "1.5")
    try:
        assert holder.stdout.readline().strip() == "ready"
        begin = time.monotonic()
        con = store.connect(db, timeout=30)
        waited = time.monotonic() - begin
        con.close()
    finally:
        holder.communicate(timeout=30)
    assert waited > 0.5


def test_connect_gives_up_with_a_clear_error(db: Path):
    store.ingest(db)
    holder = run_script(HOLDER, str(db), "60")
    try:
        assert holder.stdout.readline().strip() == "ready"
        begin = time.monotonic()
        with pytest.raises(store.StoreBusy) as info:
            store.connect(db, timeout=0.6)
        assert 0.5 < time.monotonic() - begin < 5
        message = str(info.value)
        assert str(db) in message and f"process {holder.pid}" in message
        assert "close the other connection" in message
        assert info.value.holder_pid == holder.pid
    finally:
        holder.kill()
        holder.communicate(timeout=30)


def test_log_keeps_going_while_the_database_is_held(db: Path):
    store.ingest(db)
    holder = run_script(HOLDER, str(db), "60")
    try:
        assert holder.stdout.readline().strip() == "ready"
        log = store.EventLog(db)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            begin = time.monotonic()
            full_session(log)
            assert time.monotonic() - begin < 5  # one short try at the end, then give up
        assert log.failures == 0
        assert len(list_journals(journal_dir(db))) == 1
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    assert list(store.list_sessions(db).stop_reason) == ["completed"]
    assert list_journals(journal_dir(db)) == []


def test_event_log_never_raises_and_warns_once(tmp_path: Path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # journals cannot be made either
    monkeypatch.setattr("tempfile.tempdir", str(blocker))
    log = store.EventLog(blocker / "claw.duckdb")
    with pytest.warns(RuntimeWarning, match="event log") as caught:
        full_session(log)
    assert len(caught) == 1
    assert log.failures > 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log2 = store.EventLog(blocker / "claw.duckdb")
        full_session(log2)  # even with warnings as errors nothing reaches the agent


# --- migrations --------------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER);
INSERT INTO schema_version VALUES (1);
CREATE TABLE prompts (sha VARCHAR PRIMARY KEY, name VARCHAR, text VARCHAR, created_at TIMESTAMP);
CREATE TABLE sessions (session_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, ended_at TIMESTAMP,
    model VARCHAR, workspace VARCHAR, task VARCHAR, stop_reason VARCHAR,
    system_prompt_sha VARCHAR, system_prompt_name VARCHAR, resumed_from VARCHAR,
    steps INTEGER, pid INTEGER, host VARCHAR);
CREATE TABLE messages (session_id VARCHAR, seq INTEGER, role VARCHAR, content VARCHAR,
    tool_calls JSON, tool_call_id VARCHAR, name VARCHAR, created_at TIMESTAMP,
    PRIMARY KEY (session_id, seq));
CREATE TABLE llm_calls (session_id VARCHAR, step INTEGER, model VARCHAR, prompt_tokens INTEGER,
    completion_tokens INTEGER, cached_tokens INTEGER, latency_ms DOUBLE, ttft_ms DOUBLE,
    tokens_per_s DOUBLE, finish_reason VARCHAR, usage_source VARCHAR, attempts INTEGER,
    streamed BOOLEAN, message_count INTEGER, cost_usd DOUBLE, params JSON, parts JSON,
    error VARCHAR, created_at TIMESTAMP);
CREATE TABLE tool_calls (session_id VARCHAR, step INTEGER, call_id VARCHAR, tool VARCHAR,
    arguments JSON, raw_arguments VARCHAR, ok BOOLEAN, error_kind VARCHAR, error VARCHAR,
    result VARCHAR, duration_ms DOUBLE, decision VARCHAR, result_chars INTEGER,
    result_chars_sent INTEGER, created_at TIMESTAMP);
CREATE TABLE errors (session_id VARCHAR, kind VARCHAR, message VARCHAR, created_at TIMESTAMP);
CREATE TABLE journal_offsets (file VARCHAR PRIMARY KEY, "offset" BIGINT);
INSERT INTO sessions (session_id, started_at, model, task, stop_reason, steps)
    VALUES ('old', TIMESTAMP '2024-01-01 10:00:00', 'm', 'old task', 'completed', 1);
INSERT INTO messages (session_id, seq, role, content) VALUES
    ('old', 0, 'system', 'old prompt'), ('old', 1, 'user', 'old task');
"""


def columns(db: Path, table: str) -> set[str]:
    return {
        r[0]
        for r in query(
            db, "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        )
    }


def test_an_older_database_is_migrated_in_place(db: Path):
    db.parent.mkdir(parents=True)
    con = duckdb.connect(str(db))
    con.execute(V1_SCHEMA)
    con.close()
    assert "final_answer" not in columns(db, "sessions")

    store.connect(db).close()
    assert query(db, "SELECT version FROM schema_version") == [(store.SCHEMA_VERSION,)]
    assert store.SCHEMA_VERSION >= 2
    assert {"final_answer"} <= columns(db, "sessions")
    assert {"prompt_sha", "content_is_json", "extra"} <= columns(db, "messages")
    assert columns(db, "todos") and columns(db, "journal_sessions")
    assert query(db, "SELECT task, stop_reason FROM sessions") == [("old task", "completed")]
    assert store.load_messages(db, "old") == [
        {"role": "system", "content": "old prompt"},
        {"role": "user", "content": "old task"},
    ]
    full_session(store.EventLog(db), "new")
    assert query(db, "SELECT count(*) FROM sessions") == [(2,)]
    assert query(db, "SELECT final_answer FROM sessions WHERE session_id = 'new'") == [
        (conversation("new")[4]["content"],)
    ]
    store.connect(db).close()  # opening again changes nothing
    assert query(db, "SELECT version FROM schema_version") == [(store.SCHEMA_VERSION,)]


def test_a_fresh_database_gets_every_migration(db: Path):
    store.connect(db).close()
    assert query(db, "SELECT version FROM schema_version") == [(store.SCHEMA_VERSION,)]
    tables = {r[0] for r in query(db, "SELECT table_name FROM duckdb_tables()")}
    assert {
        "prompts",
        "sessions",
        "messages",
        "llm_calls",
        "tool_calls",
        "errors",
        "journal_offsets",
        "journal_sessions",
        "todos",
        "schema_version",
    } <= tables


def test_model_calls_get_their_prompt_variant_from_migration_4(db: Path):
    """A version-3 file: its model calls take their session's prompt variant; new calls keep
    the variant they ran under, also when a session continues under another prompt."""
    store.connect(db).close()
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE llm_calls DROP COLUMN system_prompt_sha")
    con.execute("ALTER TABLE llm_calls DROP COLUMN system_prompt_name")
    con.execute("UPDATE schema_version SET version = 3")
    con.execute(
        "INSERT INTO sessions (session_id, system_prompt_sha, system_prompt_name) "
        "VALUES ('v3', 'abc', 'old-variant')"
    )
    con.execute("INSERT INTO llm_calls (session_id, step) VALUES ('v3', 1), ('gone', 1)")
    con.close()

    store.connect(db).close()
    assert query(db, "SELECT version FROM schema_version") == [(store.SCHEMA_VERSION,)]
    assert query(
        db,
        "SELECT session_id, system_prompt_sha, system_prompt_name FROM llm_calls "
        "ORDER BY session_id",
    ) == [("gone", None, None), ("v3", "abc", "old-variant")]
    other = "You are terse.\n"
    log = store.EventLog(db)
    log(started("s2"))
    log(tiny_call("s2", step=1))
    log(ev.SessionEnded("s2", "completed", steps=1))
    log(
        ev.SessionStarted(
            "s2",
            model="m",
            workspace="/ws",
            task="more",
            system_prompt=other,
            system_prompt_sha=sha(other),
            system_prompt_name="terse",
        )
    )
    log(tiny_call("s2", step=2))
    log(ev.SessionEnded("s2", "completed", steps=2))
    assert query(
        db,
        "SELECT step, system_prompt_sha, system_prompt_name FROM llm_calls "
        "WHERE session_id = 's2' ORDER BY step",
    ) == [(1, sha(PROMPT), "default"), (2, sha(other), "terse")]
    assert query(db, "SELECT system_prompt_name FROM sessions WHERE session_id = 's2'") == [
        ("terse",)
    ]


def test_compaction_time_is_the_events_own(db: Path):
    log = store.EventLog(db)
    log(started("c"))
    log(
        ev.ContextCompacted(
            "c",
            reason="manual",
            method="prune",
            tokens_before=10,
            tokens_after=5,
            messages_before=4,
            messages_after=3,
            dropped="x",
            at=1_700_000_000.0,
        )
    )
    log(ev.SessionEnded("c", "completed"))
    assert query(db, "SELECT epoch(created_at) FROM compactions") == [(1_700_000_000.0,)]


def test_read_only_connect_sees_pending_journals(db: Path):
    full_session(store.EventLog(db, ingest_at_end=False))
    con = store.connect(db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM messages").fetchone() == (5,)
    finally:
        con.close()


def test_a_fresh_database_has_the_columns_of_the_spec_in_order(db: Path):
    """The one column spec per table is what migrations create, in the order rows are built."""
    from claw_nb.log.schema import all_tables

    store.connect(db).close()
    for table in all_tables().values():
        rows = query(
            db,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table.name],
        )
        assert [r[0] for r in rows] == list(table.names), table.name
        assert [r[1] for r in rows] == [c.type for c in table.columns], table.name
