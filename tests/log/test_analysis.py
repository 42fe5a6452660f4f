"""claw_nb.log.analysis and `claw-nb stats`: on a log made by real runs against the scripted server,
and on hand-made events for the edge cases (running sessions, calls without a token split, a
session continued under another prompt variant, compactions, old sessions for `since`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from claw_nb import events as ev
from claw_nb.cli import main
from claw_nb.log import analysis
from claw_nb.log.store import EventLog, connect
from claw_nb.testing import call, text, tool_calls
from tests.helpers import assert_nbval_passes, notebook_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def logged(claw_env):
    """Two real CLI runs: read_file ok, read_file failing, a denied command, an unknown tool
    and a schema error; then a plain answer under another model."""
    (claw_env.workspace / "a.txt").write_text("alpha\n")
    (claw_env.workspace / ".claw").mkdir()
    (claw_env.workspace / ".claw" / "settings.toml").write_text("temperature = 0.2\n")
    claw_env.server.queue(
        tool_calls(call("read_file", {"path": "a.txt"})),
        tool_calls(
            call("read_file", {"path": "missing.txt"}), call("run_command", {"command": "echo hi"})
        ),
        tool_calls(call("no_such_tool", {}), call("read_file", {"paht": 3})),
        text("a.txt says alpha"),
        text("hello"),
    )
    assert main(["run", "--cwd", str(claw_env.workspace), "-q", "read a.txt"]) == 0
    assert (
        main(["run", "--cwd", str(claw_env.workspace), "-q", "--model", "openai/other", "hi"]) == 0
    )
    return claw_env.db


def ids(db) -> tuple[str, str]:
    """(the tool-using session, the plain one)."""
    frame = analysis.sessions(db)
    return tuple(frame.sort_values("steps", ascending=False)["session_id"])


# -- on real runs -------------------------------------------------------------------------------


def test_sessions_summarise_each_run(logged):
    frame = analysis.sessions(logged).set_index("model")
    tools, plain = frame.loc["openai/scripted"], frame.loc["openai/other"]
    assert tools["steps"] == 4 and tools["llm_calls"] == 4
    assert tools["tool_calls"] == 5 and tools["tool_errors"] == 4
    assert tools["tool_error_rate"] == 0.8
    assert tools["total_tokens"] == tools["prompt_tokens"] + tools["completion_tokens"]
    assert tools["peak_prompt_tokens"] < tools["prompt_tokens"]
    assert tools["tokens_per_s"] > 0 and tools["mean_latency_ms"] > 0
    assert tools["system_prompt_name"] == "default" and len(tools["system_prompt_sha"]) == 16
    assert plain["tool_calls"] == 0 and pd.isna(plain["tool_error_rate"])
    assert set(frame["stop_reason"]) == {"completed"} and (frame["compactions"] == 0).all()
    assert list(analysis.sessions(logged, session_id=ids(logged)[1])["model"]) == ["openai/other"]


def test_tokens_per_step_shows_the_context_growing(logged):
    sid = ids(logged)[0]
    frame = analysis.tokens_per_step(logged, session_id=sid)
    assert list(frame["step"]) == [1, 2, 3, 4]
    assert frame["prompt_tokens"].is_monotonic_increasing
    assert frame["message_count"].is_monotonic_increasing
    assert pd.isna(frame["prompt_growth"].iloc[0]) and (frame["prompt_growth"].iloc[1:] > 0).all()
    assert frame["prompt_tokens_sent"].iloc[-1] == frame["prompt_tokens"].sum()
    assert list(frame["finish_reason"]) == ["tool_calls"] * 3 + ["stop"]
    assert len(analysis.tokens_per_step(logged)) == 5


def test_token_split_has_every_part(logged):
    frame = analysis.token_split(logged, session_id=ids(logged)[0])
    assert (frame["system"] > 100).all() and (frame["tools"] > 100).all()
    assert frame["tool_results"].iloc[0] == 0 and frame["tool_results"].is_monotonic_increasing
    assert frame["tool_results"].iloc[-1] > 0
    assert (frame["counted"] == frame[list(analysis.PARTS)].sum(axis=1)).all()
    assert (frame["system_prompt_name"] == "default").all()


def test_tokens_by_part_unnests_the_split(logged):
    sid = ids(logged)[0]
    per_call = analysis.token_split(logged, session_id=sid)
    long = analysis.tokens_by_part(logged, session_id=sid)
    assert list(long["part"]) == list(analysis.PARTS)
    assert (long["calls"] == 4).all()
    assert dict(zip(long["part"], long["tokens"])) == {p: per_call[p].sum() for p in analysis.PARTS}
    assert long["share"].sum() == pytest.approx(1, abs=1e-3)
    assert set(analysis.tokens_by_part(logged, by="model")["model"]) == {
        "openai/scripted",
        "openai/other",
    }
    assert len(analysis.tokens_by_part(logged, by="step")) == 5 * len(analysis.PARTS)
    everything = analysis.tokens_by_part(logged, by="all")
    assert list(everything.columns[:2]) == ["part", "calls"] and (everything["calls"] == 5).all()
    with pytest.raises(ValueError):
        analysis.tokens_by_part(logged, by="colour")


def test_tool_errors_by_tool_and_kind(logged):
    frame = analysis.tool_errors(logged)
    outcomes = {(t, o): n for t, o, n in zip(frame["tool"], frame["outcome"], frame["calls"])}
    assert outcomes == {
        ("read_file", "ok"): 1,
        ("read_file", "tool_error"): 1,
        ("read_file", "schema"): 1,
        ("run_command", "denied"): 1,
        ("no_such_tool", "unknown_tool"): 1,
    }
    read = frame[frame["tool"] == "read_file"]
    assert read["share_of_tool"].sum() == pytest.approx(1, abs=1e-3)
    assert (frame["mean_result_chars"] > 0).all()

    by_tool = analysis.tool_errors(logged, by="tool").set_index("tool")
    assert by_tool.loc["read_file", ["calls", "errors", "tool_error", "schema"]].tolist() == [
        3,
        2,
        1,
        1,
    ]
    assert by_tool.loc["read_file", "error_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert by_tool.loc["run_command", "denied"] == 1
    assert by_tool.loc["no_such_tool", "unknown_tool"] == 1
    assert set(analysis.ERROR_KINDS) <= set(by_tool.columns)
    assert analysis.tool_errors(logged, session_id=ids(logged)[1]).empty
    with pytest.raises(ValueError):
        analysis.tool_errors(logged, by="colour")


def test_every_tool_call_keeps_its_details(logged):
    """Arguments, outcome, error kind, sizes, duration and permission decision are all stored."""
    frame = analysis.query(
        "SELECT tool, arguments, raw_arguments, ok, error_kind, error, result_chars, "
        "result_chars_sent, duration_ms, decision FROM tool_calls ORDER BY created_at",
        logged,
    )
    assert frame["arguments"].notna().all() and frame["raw_arguments"].notna().all()
    assert (frame["result_chars"] > 0).all() and (frame["result_chars_sent"] > 0).all()
    assert (frame["duration_ms"] >= 0).all()
    denied = frame[frame["tool"] == "run_command"].iloc[0]
    assert json.loads(denied["arguments"]) == {"command": "echo hi"}
    assert denied["error_kind"] == "denied" and "non-interactive" in denied["decision"]
    assert frame[~frame["ok"]]["error"].notna().all()


def test_model_calls_keep_the_servers_figures_and_the_prompt_variant(logged):
    frame = analysis.query(
        "SELECT l.*, s.system_prompt_sha AS session_sha FROM llm_calls l "
        "JOIN sessions s USING (session_id)",
        logged,
    )
    assert (frame["usage_source"] == "server").all()
    assert (frame["prompt_tokens"] > 0).all() and (frame["completion_tokens"] > 0).all()
    assert (frame["latency_ms"] > 0).all() and frame["ttft_ms"].notna().all()
    assert (frame["system_prompt_sha"] == frame["session_sha"]).all()
    assert (frame["system_prompt_name"] == "default").all()
    assert (frame["params"].map(json.loads) == {"temperature": 0.2, "tool_choice": "auto"}).all()


def test_time_split_adds_up(logged):
    frame = analysis.time_split(logged)
    assert (frame["model_s"] > 0).all()
    total = frame["model_s"] + frame["tools_s"] + frame["other_s"]
    assert (total >= frame["wall_s"] - 1e-6).all()
    assert ((frame["model_share"] > 0) & (frame["model_share"] <= 1.0001)).all()
    assert len(analysis.time_split(logged, session_id=ids(logged)[0])) == 1


def test_compare_models_and_prompts(logged):
    by_model = analysis.compare(logged, by="model").set_index("model")
    assert set(by_model.index) == {"openai/scripted", "openai/other"}
    assert by_model.loc["openai/scripted", "tool_error_rate"] == 0.8
    assert by_model.loc["openai/scripted", "mean_steps"] == 4
    assert by_model.loc["openai/other", "completion_rate"] == 1.0
    assert by_model.loc["openai/other", "tool_calls_per_session"] == 0
    assert (by_model["tokens_per_session"] > 0).all() and (by_model["tokens_per_s"] > 0).all()
    by_prompt = analysis.compare(logged, by="prompt")
    assert list(by_prompt["sessions"]) == [2] and list(by_prompt["system_prompt_name"]) == [
        "default"
    ]
    assert by_prompt["tool_error_rate"].iloc[0] == 0.8
    with pytest.raises(ValueError):
        analysis.compare(logged, by="colour")


def test_session_log_interleaves_model_and_tool_calls(logged):
    assert list(analysis.session_log(logged)["kind"]) == ["model"]  # the latest: plain answer
    frame = analysis.session_log(logged, ids(logged)[0])
    assert list(frame["step"]) == sorted(frame["step"])
    assert list(frame.groupby("step")["kind"].first()) == ["model"] * 4  # the call, then tools
    assert (frame["kind"] == "tool").sum() == 5 and (frame["kind"] == "model").sum() == 4
    assert frame[frame["name"] == "run_command"]["detail"].iloc[0].startswith("denied asks")


def test_parquet_export_reads_back(logged, tmp_path):
    out = tmp_path / "out"
    paths = analysis.export_parquet(logged, out)
    names = {p.stem for p in paths}
    assert {
        "sessions",
        "llm_calls",
        "tool_calls",
        "messages",
        "prompts",
        "compactions",
        "errors",
        "todos",
    } <= names
    assert not names & {"schema_version", "journal_offsets", "journal_sessions"}
    con = duckdb.connect(str(logged), read_only=True)
    try:
        for path in paths:
            back = duckdb.sql(f"SELECT * FROM read_parquet('{path}')").df()
            original = con.execute(f"SELECT * FROM {path.stem}").df()
            assert list(back.columns) == list(original.columns)
            assert len(back) == len(original)
    finally:
        con.close()
    back = duckdb.sql(f"SELECT tool, error_kind FROM '{out / 'tool_calls.parquet'}'").fetchall()
    assert ("run_command", "denied") in back


def test_parquet_export_to_a_directory_alone_uses_the_default_log(logged, tmp_path):
    paths = analysis.export_parquet(tmp_path / "only-dir")  # CLAW_DB names the log
    assert (tmp_path / "only-dir" / "sessions.parquet") in paths
    with pytest.raises(TypeError):
        analysis.export_parquet()


def test_analysis_accepts_an_open_connection(logged):
    con = connect(logged)
    try:
        assert len(analysis.sessions(con)) == 2
        assert analysis.query("SELECT count(*) AS n FROM prompts", con)["n"][0] == 1
        assert len(analysis.export_parquet(con, logged.parent / "pq")) >= 8
        con.execute("SELECT 1")  # still open: the caller owns it
    finally:
        con.close()


def test_a_missing_log_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no claw_nb log"):
        analysis.sessions(tmp_path / "nothing.duckdb")
    assert not (tmp_path / "nothing.duckdb").exists()


# -- `claw-nb stats` ----------------------------------------------------------------------------


def test_stats_prints_each_view(logged, capsys):
    tools_sid, plain_sid = ids(logged)
    expected = {
        "session": ["total_tokens", "peak_prompt_tokens", "read a.txt", plain_sid],
        "model": ["openai/other", "completion_rate", "tokens_per_s"],
        "prompt": ["default", "system_prompt_sha", "tool_error_rate"],
        "tool": ["error_rate", "unknown_tool", "run_command", "denied"],
        "step": ["prompt_growth", "prompt_tokens_sent"],
        "split": ["tool_results", "counted"],
    }
    for by, words in expected.items():
        assert main(["stats", "--by", by]) == 0
        out = capsys.readouterr().out
        for word in words:
            assert word in out, (by, word, out)
    assert main(["stats", "--session", tools_sid]) == 0
    out = capsys.readouterr().out
    assert tools_sid in out and plain_sid not in out
    assert main(["stats", "--by", "tool", "--session", plain_sid]) == 0
    assert capsys.readouterr().out.strip() == "(no rows)"


def test_stats_exports_parquet(logged, capsys, tmp_path):
    assert (
        main(["stats", "--db", str(logged), "--by", "model", "--export", str(tmp_path / "pq")]) == 0
    )
    out = capsys.readouterr().out
    assert "sessions.parquet" in out and "tool_calls.parquet" in out
    con = duckdb.connect()
    path = tmp_path / "pq" / "sessions.parquet"
    assert con.execute(f"SELECT count(*) FROM '{path}'").fetchone() == (2,)
    con.close()


def test_stats_without_a_log_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLAW_DB", str(tmp_path / "none.duckdb"))
    assert main(["stats"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no claw_nb log" in err
    assert not (tmp_path / "none.duckdb").exists()


# -- edge cases from hand-made events -----------------------------------------------------------

OLD = datetime(2024, 1, 1, 12, 0, tzinfo=UTC).timestamp()


def started(sid: str, name: str = "default", prompt: str = "You are an agent.", **kw):
    return ev.SessionStarted(
        sid,
        model="ollama_chat/qwen3",
        workspace="/ws",
        task="t " + sid,
        system_prompt=prompt,
        system_prompt_sha=name[:3] + "sha",
        system_prompt_name=name,
        **kw,
    )


def model_call(sid: str, step: int, **kw) -> ev.ModelCallFinished:
    values = {
        "model": "ollama_chat/qwen3",
        "prompt_tokens": 1000 * step,
        "completion_tokens": 50,
        "latency_ms": 1000.0,
        "ttft_ms": 200.0,
        "finish_reason": "tool_calls",
        "cost_usd": 0.0,
        "parts": {
            "system": 500,
            "tools": 300,
            "history": 100 * step,
            "tool_results": 50 * step,
            "estimate": 1000 * step,
            "window": 32768,
        },
    }
    values.update(kw)
    return ev.ModelCallFinished(sid, step=step, **values)


def tool_done(sid: str, step: int, ok: bool = True, **kw) -> ev.ToolCallFinished:
    values = {
        "call_id": f"c{step}",
        "tool": "run_command",
        "arguments": {"command": "ls"},
        "raw_arguments": '{"command": "ls"}',
        "result": "x",
        "duration_ms": 250.0,
        "result_chars": 10,
        "result_chars_sent": 10,
    }
    values.update(kw)
    return ev.ToolCallFinished(sid, step=step, ok=ok, **values)


@pytest.fixture
def made(tmp_path: Path) -> Iterator[Path]:
    db = tmp_path / "made.duckdb"
    log = EventLog(db)
    events = [
        # An old session: one call logged without a token split, free local model.
        started("old", started_at=OLD),
        model_call("old", 1, parts={}, finish_reason="stop", ttft_ms=None),
        ev.SessionEnded("old", "max_steps", ended_at=OLD + 30, steps=1),
        # A session continued (second SessionStarted) under another prompt variant.
        started("cont", name="terse"),
        model_call("cont", 1),
        tool_done(
            "cont",
            1,
            ok=False,
            error="boom",
            error_kind="timeout",
            result_chars=50_000,
            result_chars_sent=2_000,
        ),
        ev.SessionEnded("cont", "completed", steps=1),
        started("cont", name="verbose", prompt="You are a very careful agent."),
        model_call("cont", 2, latency_ms=100.0, ttft_ms=100.0, completion_tokens=0),
        ev.ContextCompacted(
            "cont",
            reason="threshold",
            method="summary",
            tokens_before=9000,
            tokens_after=3000,
            messages_before=40,
            messages_after=6,
            dropped="30 messages summarised",
            summary_tokens=400,
            step=2,
            window=16384,
            limit=12000,
            duration_ms=1500.0,
        ),
        ev.SessionEnded("cont", "completed", steps=2),
    ]
    for event in events:
        log(event)
    log.close()
    # Still running: its writer (an open journal) is alive, so no SessionEnded is not abnormal.
    running = EventLog(db)
    for event in (
        started("live"),
        model_call("live", 1, cached_tokens=800, cost_usd=None),
        tool_done("live", 1, ok=False, error="?", error_kind=None),
    ):
        running(event)
    yield db
    running.close()


def test_made_sessions_cover_running_old_and_continued(made):
    frame = analysis.sessions(made).set_index("session_id")
    assert list(frame.index) == ["old", "cont", "live"]  # oldest first
    assert pd.isna(frame.loc["live", "stop_reason"]) and pd.isna(frame.loc["live", "wall_s"])
    assert frame.loc["old", "wall_s"] == pytest.approx(30)
    assert frame.loc["cont", "system_prompt_name"] == "verbose"  # the latest start
    assert frame.loc["cont", "compactions"] == 1
    assert frame.loc["old", "cost_usd"] == 0 and pd.isna(frame.loc["live", "cost_usd"])
    assert frame.loc["live", "cached_tokens"] == 800
    # tokens/s: completion tokens over the time after the first token; the call that
    # generated nothing in no time counts for neither
    assert frame.loc["cont", "tokens_per_s"] == pytest.approx(50 / 0.8)
    assert frame.loc["old", "tokens_per_s"] == pytest.approx(50 / 1.0)


def test_since_keeps_only_newer_sessions(made):
    assert set(analysis.sessions(made, since="2025-01-01")["session_id"]) == {"cont", "live"}
    assert set(analysis.sessions(made, since=timedelta(days=1))["session_id"]) == {"cont", "live"}
    aware = datetime(2024, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=2)))  # 11:00 UTC
    assert "old" in set(analysis.sessions(made, since=aware)["session_id"])
    assert "old" not in set(
        analysis.sessions(made, since=pd.Timestamp("2024-01-01 12:00:01"))["session_id"]
    )
    future = datetime.now() + timedelta(days=3650)
    for frame in (
        analysis.sessions(made, since=future),
        analysis.tokens_per_step(made, since=future),
        analysis.token_split(made, since=future),
        analysis.tokens_by_part(made, since=future),
        analysis.tool_errors(made, since=future),
        analysis.time_split(made, since=future),
        analysis.compare(made, since=future),
        analysis.compactions(made, since=future),
    ):
        assert frame.empty
    assert len(analysis.tokens_per_step(made, since="2025-01-01")) == 3
    assert analysis.compare(made, since="2025-01-01")["sessions"].sum() == 2


def test_session_filter_takes_a_list(made):
    assert set(analysis.sessions(made, session_id=["old", "live"])["session_id"]) == {"old", "live"}
    assert analysis.sessions(made, session_id=[]).empty


def test_calls_without_a_split_have_null_parts(made):
    split = analysis.token_split(made).set_index("session_id")
    assert split.loc["old", ["system", "tools", "history", "tool_results", "counted"]].isna().all()
    assert split.loc["old", "prompt_tokens"] == 1000
    long = analysis.tokens_by_part(made)
    assert "old" not in set(long["session_id"])  # nothing to unnest
    assert "estimate" not in set(long["part"]) and "window" not in set(long["part"])


def test_each_call_keeps_its_prompt_variant(made):
    steps = analysis.tokens_per_step(made, session_id="cont")
    assert list(steps["system_prompt_name"]) == ["terse", "verbose"]
    by_prompt = analysis.tokens_by_part(made, by="prompt", session_id="cont")
    assert set(zip(by_prompt["system_prompt_name"], by_prompt["system_prompt_sha"])) == {
        ("terse", "tersha"),
        ("verbose", "versha"),
    }
    history = by_prompt[by_prompt["part"] == "history"].set_index("system_prompt_name")
    assert history.loc["terse", "tokens"] == 100 and history.loc["verbose", "tokens"] == 200


def test_made_tool_errors_truncation_and_unknown_failures(made):
    by_tool = analysis.tool_errors(made, by="tool").set_index("tool")
    row = by_tool.loc["run_command"]
    assert (row["calls"], row["errors"], row["timeout"], row["other"], row["truncated"]) == (
        2,
        2,
        1,
        1,
        1,
    )
    kinds = analysis.tool_errors(made)
    assert set(kinds["outcome"]) == {"timeout", "unknown"}
    assert kinds.set_index("outcome").loc["timeout", "mean_chars_sent"] == 2000


def test_made_compactions(made):
    frame = analysis.compactions(made)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["session_id"], row["reason"], row["method"], row["tokens_saved"]) == (
        "cont",
        "threshold",
        "summary",
        6000,
    )
    assert (row["window_tokens"], row["limit_tokens"], row["step"]) == (16384, 12000, 2)
    assert analysis.compactions(made, session_id="old").empty


def test_made_time_split_and_compare(made):
    times = analysis.time_split(made).set_index("session_id")
    assert times.loc["old", "model_s"] == 1 and times.loc["old", "other_s"] == 29
    assert pd.isna(times.loc["live", "other_s"])
    by_prompt = analysis.compare(made, by="prompt").set_index("system_prompt_name")
    assert by_prompt.loc["default", "sessions"] == 2
    assert by_prompt.loc["default", "completion_rate"] == 0  # max_steps, and one running
    assert by_prompt.loc["verbose", "completion_rate"] == 1


def test_an_empty_log_gives_empty_frames(tmp_path):
    db = tmp_path / "empty.duckdb"
    connect(db).close()
    for fn in (
        analysis.sessions,
        analysis.tokens_per_step,
        analysis.token_split,
        analysis.tokens_by_part,
        analysis.tool_errors,
        analysis.time_split,
        analysis.compare,
        analysis.compactions,
        analysis.session_log,
    ):
        frame = fn(db)
        assert frame.empty, fn.__name__
    assert "completion_rate" in analysis.compare(db).columns


# -- the notebook without a log: it makes (and says it makes) demo data -------------------------


@pytest.mark.slow
def test_token_usage_notebook_makes_demo_data_without_a_log(tmp_path):
    pytest.importorskip("nbval", reason="runs the notebook under nbval (in the [test] extra)")
    pytest.importorskip("matplotlib")
    notebook = ROOT / "notebooks" / "token_usage.ipynb"
    assert_nbval_passes(notebook, tmp_path, notebook_env(), timeout=300)
    assert not (tmp_path / ".claw").exists()  # the demo log lives in a temporary directory


def test_token_usage_notebook_is_saved_without_outputs():
    notebook = json.loads((ROOT / "notebooks" / "token_usage.ipynb").read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
