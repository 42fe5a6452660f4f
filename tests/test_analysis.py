"""Analysis over a log made by real runs against the scripted server."""

from __future__ import annotations

import duckdb
import pytest

from claw_nb import analysis
from claw_nb.cli import main
from claw_nb.testing import call, text, tool_calls


@pytest.fixture
def logged(claw_env):
    """Two sessions: one with a failing tool call, one plain answer."""
    (claw_env.workspace / "a.txt").write_text("alpha\n")
    claw_env.server.queue(
        tool_calls(call("read_file", {"path": "a.txt"})),
        tool_calls(call("read_file", {"path": "missing.txt"})),
        text("a.txt says alpha"),
        text("hello"),
    )
    assert main(["run", "--cwd", str(claw_env.workspace), "read a.txt"]) == 0
    assert main(["run", "--cwd", str(claw_env.workspace), "--model", "openai/other", "hi"]) == 0
    return claw_env.db


def test_sessions_summarise_each_run(logged):
    frame = analysis.sessions(logged)
    assert len(frame) == 2
    first = frame.iloc[0]
    assert first["llm_calls"] == 3 and first["tool_calls"] == 2 and first["tool_errors"] == 1
    assert first["prompt_tokens"] > 0 and first["stop_reason"] == "completed"


def test_tokens_per_step_shows_the_context_growing(logged):
    frame = analysis.tokens_per_step(logged)
    one = frame[frame.groupby("session_id")["step"].transform("count") == 3]
    assert list(one["step"]) == [1, 2, 3]
    assert one["prompt_tokens"].is_monotonic_increasing
    assert one["prompt_tokens_sent"].iloc[-1] == one["prompt_tokens"].sum()


def test_token_split_has_every_part(logged):
    frame = analysis.token_split(logged)
    assert {"system", "tools", "history", "tool_results"} <= set(frame.columns)
    assert (frame["system"] > 100).all() and (frame["tools"] > 100).all()
    assert frame["tool_results"].max() > 0  # the third step carries two tool results


def test_tool_errors_by_tool_and_kind(logged):
    frame = analysis.tool_errors(logged)
    outcomes = dict(zip(frame["outcome"], frame["calls"]))
    assert outcomes == {"ok": 1, "tool_error": 1}
    assert set(frame["share_of_tool"]) == {0.5}


def test_time_split_adds_up(logged):
    frame = analysis.time_split(logged)
    assert (frame["model_s"] > 0).all()
    assert ((frame["model_s"] + frame["tools_s"] + frame["other_s"]) >= frame["wall_s"] - 1e-6).all()


def test_compare_models_and_prompts(logged):
    by_model = analysis.compare(logged, by="model").set_index("model")
    assert set(by_model.index) == {"openai/scripted", "openai/other"}
    assert by_model.loc["openai/scripted", "tool_error_rate"] == 0.5
    assert by_model.loc["openai/other", "completion_rate"] == 1.0
    by_prompt = analysis.compare(logged, by="prompt")
    assert by_prompt["sessions"].sum() == 2 and "system_prompt_sha" in by_prompt.columns
    with pytest.raises(ValueError):
        analysis.compare(logged, by="colour")


def test_session_log_interleaves_model_and_tool_calls(logged):
    frame = analysis.session_log(logged)
    assert list(frame["kind"]) == ["model"]  # the latest session: one plain answer


def test_parquet_export_reads_back(logged, tmp_path):
    paths = analysis.export_parquet(tmp_path / "out", logged)
    names = {p.stem for p in paths}
    assert {"sessions", "llm_calls", "tool_calls", "messages", "prompts"} <= names
    con = duckdb.connect()
    count = con.execute(f"SELECT count(*) FROM '{tmp_path / 'out' / 'tool_calls.parquet'}'")
    assert count.fetchone() == (2,)
    con.close()


def test_analysis_accepts_an_open_connection(logged):
    from claw_nb.store import connect

    con = connect(logged)
    try:
        assert len(analysis.sessions(con)) == 2
        assert analysis.query("SELECT count(*) AS n FROM prompts", con)["n"][0] == 1
    finally:
        con.close()


def test_stats_command_prints_and_exports(logged, capsys, tmp_path):
    assert main(["stats", "--by", "model"]) == 0
    out = capsys.readouterr().out
    assert "openai/other" in out and "completion_rate" in out
    assert main(["stats", "--by", "tool", "--export", str(tmp_path / "pq")]) == 0
    out = capsys.readouterr().out
    assert "tool_error" in out and "sessions.parquet" in out


def test_stats_without_a_log_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLAW_DB", str(tmp_path / "none.duckdb"))
    assert main(["stats"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
