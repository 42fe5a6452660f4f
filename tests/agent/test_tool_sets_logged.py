"""The log says which tools each model call was sent; the set stays the same all session (a
tool joining mid-run would make a server's prompt cache read the whole conversation again)."""

from __future__ import annotations

import json

import duckdb

import claw_nb
from claw_nb.testing import call, text, tool_calls


def test_each_model_call_logs_the_tool_set_it_sent(scripted_server, workspace, tmp_path):
    (workspace / "big.txt").write_text("".join(f"row {i:03d} payload\n" for i in range(1, 401)))
    scripted_server.queue(tool_calls(call("read_file", {"path": "big.txt"})), text("seen"))
    db = tmp_path / "log.duckdb"
    with claw_nb.create_agent(
        workspace,
        db_path=db,
        model="openai/scripted",
        api_base=scripted_server.url,
        api_key="k",
        stream=False,
        max_tool_result_chars=2000,
    ) as agent:
        assert agent.run("look at big.txt").ok
    sent = [[t["function"]["name"] for t in r["tools"]] for r in scripted_server.requests]
    assert "read_output" in sent[0] and sent[1] == sent[0]  # there before any output is cut
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT c.step, t.tools FROM llm_calls c JOIN tool_schemas t "
            "ON t.sha = c.tool_schemas_sha ORDER BY c.step"
        ).fetchall()
        session_sha = con.execute("SELECT tool_schemas_sha FROM sessions").fetchone()[0]
        shas = con.execute("SELECT DISTINCT tool_schemas_sha FROM llm_calls").fetchall()
        breaks = con.execute("SELECT count(*) FILTER (WHERE cache_break) FROM llm_calls")
        assert breaks.fetchone() == (0,)
    logged = [[t["function"]["name"] for t in json.loads(tools)] for _, tools in rows]
    assert logged == sent  # what each call was sent
    assert shas == [(session_sha,)]  # the set the session started with, all along
