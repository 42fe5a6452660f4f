"""Prompt budgets: a variant's base request counted as the model is sent it, sweeps over tool
sets and description lengths, variants and proposals over budget refused before any trial,
and pass rate against tokens with the Pareto front (checked against a brute-force front)."""

from __future__ import annotations

import json
import random

import pytest

from claw_nb.context.outputs import OutputStore, make_read_output_tool
from claw_nb.context.tokens import PER_MESSAGE, PER_TOOL, PRIMING
from claw_nb.errors import ConfigError
from claw_nb.lab.optimize.budget import (
    TRIAL_WORKSPACE,
    BaseRequestCounter,
    PromptBudget,
    pareto_front,
)
from claw_nb.lab.optimize.guards import CandidateRejected
from claw_nb.lab.optimize.sweep_grid import short_description, sweep_variants
from claw_nb.lab.variants import Variant
from claw_nb.prompts import render_template, template_text
from claw_nb.tools import default_tools


def tiktoken_count(text: str) -> int:
    import tiktoken

    return len(tiktoken.get_encoding("cl100k_base").encode(text, disallowed_special=()))


def test_the_base_request_is_the_rendered_prompt_and_the_schemas_the_model_is_sent():
    variant = Variant("lean", tools=("read_file", "edit_file", "run_command"))
    base = BaseRequestCounter().count(variant)
    tools = variant.tool_registry()
    assert tools.names() == ["read_file", "edit_file", "run_command"]
    system = render_template(template_text(), TRIAL_WORKSPACE, tools)
    listed = render_template("Tools:\n$tools\n", TRIAL_WORKSPACE, tools)
    assert "`grep(" not in listed and "`read_file(" in listed  # $tools lists only these
    expected_system = PRIMING + PER_MESSAGE + tiktoken_count(system)
    sent = [*tools.specs(), make_read_output_tool(OutputStore()).spec()]  # as the loop sends
    expected_tools = sum(
        tiktoken_count(json.dumps(spec, ensure_ascii=False)) + PER_TOOL for spec in sent
    )
    assert (base.system_tokens, base.tool_tokens) == (expected_system, expected_tools)
    assert base.tokens == expected_system + expected_tools
    assert base.tools == ("read_file", "edit_file", "run_command")
    assert "tiktoken" in base.counted_with
    full = BaseRequestCounter().count(Variant("full"))
    assert full.tokens > base.tokens and len(full.tools) == len(default_tools())


def test_a_variant_names_only_known_tools_and_offers_at_least_one():
    with pytest.raises(ConfigError, match="unknown tool.*bogus.*tools: read_file"):
        Variant.from_dict("x", {"tools": ["read_file", "bogus"]})
    with pytest.raises(ConfigError, match="at least one tool"):
        Variant("none", tools=()).tool_registry()
    with pytest.raises(ConfigError, match="list of tool names"):
        Variant.from_dict("x", {"tools": "read_file"})
    v = Variant.from_dict("x", {"tools": ["grep", "read_file"]})
    assert v.tool_registry().names() == ["read_file", "grep"]  # the defaults' order
    assert v.overrides()["tools"] == ["grep", "read_file"]
    assert v.sha() != Variant("x").sha()


def test_a_sweep_varies_the_tool_set_and_the_length_of_descriptions():
    base = Variant("base")
    variants = sweep_variants(
        base, {"descriptions": ["full", "short"]}, drop_tools=["grep"], add_tools=[]
    )
    names = [v.name for v in variants]
    assert names == ["base", "desc=full -grep", "desc=short", "desc=short -grep"]
    by_name = {v.name: v for v in variants}
    assert "grep" not in by_name["desc=short -grep"].tool_registry().names()
    assert by_name["desc=short"].tools is None
    short = by_name["desc=short"].tool_registry().get("read_file").description
    assert short == short_description(default_tools().get("read_file").description)
    assert short.endswith(".") and len(short) < len(default_tools().get("read_file").description)
    lean = Variant("lean", tools=("read_file", "write_file"))
    added = sweep_variants(lean, add_tools=["run_command"])
    assert [v.tool_registry().names() for v in added] == [
        ["read_file", "write_file"],
        ["read_file", "write_file", "run_command"],
    ]
    with pytest.raises(ConfigError, match="offers it already"):
        sweep_variants(base, add_tools=["grep"])
    with pytest.raises(ConfigError, match="does not offer it"):
        sweep_variants(lean, drop_tools=["grep"])
    with pytest.raises(ConfigError, match="descriptions=tiny"):
        sweep_variants(base, {"descriptions": ["tiny"]})


def test_a_budget_refuses_what_is_over_it_with_the_figures():
    counter = BaseRequestCounter()
    full, lean = Variant("full"), Variant("lean", tools=("read_file", "edit_file"))
    cap = (counter.count(full).tokens + counter.count(lean).tokens) // 2
    budget = PromptBudget(cap, counter)
    kept, refused = budget.within([full, lean])
    assert [v.name for v in kept] == ["lean"]
    assert refused[0][0] is full and "over budget" in refused[0][1]
    assert f"budget {cap:,}" in refused[0][1]
    with pytest.raises(CandidateRejected):
        budget.check(full)
    with pytest.raises(ConfigError, match="the base variant 'full' is .* raise --max-prompt"):
        budget.require(full, "base")
    with pytest.raises(ConfigError, match="at least 1"):
        PromptBudget(0, counter)


def brute_front(points):
    """An independent front: sort by tokens, keep each point that beats every cheaper one
    (ties in tokens: only the best rate of that cost, all copies of it)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][1], -points[i][0]))
    front, best = set(), float("-inf")
    for i in order:
        rate, tokens = points[i]
        cheaper_or_equal = [j for j in range(len(points)) if points[j][1] <= tokens and j != i]
        if all(
            points[j][0] < rate or (points[j][0] == rate and points[j][1] == tokens)
            for j in cheaper_or_equal
        ):
            front.add(i)
        best = max(best, rate)
    return [i in front for i in range(len(points))]


def test_the_pareto_front_agrees_with_a_brute_force_one():
    assert pareto_front([(0.5, 100), (0.6, 200), (0.4, 150), (0.6, 300)]) == [
        True,
        True,
        False,
        False,
    ]
    rng = random.Random(7)
    for _ in range(300):
        points = [
            (rng.choice([0, 0.25, 0.5, 0.75, 1.0]), rng.choice([100, 200, 300, 400]))
            for _ in range(rng.randint(1, 7))
        ]
        assert pareto_front(points) == brute_front(points), points


@pytest.mark.slow
def test_a_budgeted_sweep_runs_only_what_fits_and_reports_the_front(tmp_path):
    from claw_nb.lab.optimize import sweep
    from claw_nb.lab.optimize.sweep_grid import with_fragments
    from claw_nb.log.database import DEFAULT_TIMEOUT, open_database
    from claw_nb.testing import ScriptedServer
    from claw_nb.testing.lab_demo import HABIT_WRITE, demo_tasks, scripted_agent

    base = Variant(
        "base",
        system_prompt=with_fragments(template_text(), [HABIT_WRITE]),
        tools=("read_file", "write_file", "run_command"),
    )
    planned = sweep_variants(base, drop_tools=["write_file"], add_tools=["grep"])
    counter = BaseRequestCounter()
    tokens = {v.name: counter.count(v).tokens for v in planned}
    cap = tokens["base"]
    fits = {n for n, t in tokens.items() if t <= cap}
    assert "+grep" not in fits and "-write_file" in fits  # the test means something
    db = tmp_path / "lab.duckdb"
    with ScriptedServer(default=scripted_agent) as server:
        cmp = sweep(
            demo_tasks(2),
            base,
            drop_tools=["write_file"],
            add_tools=["grep"],
            max_prompt_tokens=cap,
            experiment="budgeted",
            db_path=db,
            model="openai/scripted",
            api_base=server.url,
            api_key="sk-test",
            unsandboxed=True,
        )
    con, _ = open_database(db, read_only=True, timeout=DEFAULT_TIMEOUT)
    try:
        ran = {r[0] for r in con.execute("SELECT DISTINCT variant FROM trials").fetchall()}
    finally:
        con.close()
    assert ran == fits  # nothing over budget ran a trial
    assert {name for name, _ in cmp.refused} == set(tokens) - fits
    table = cmp.budget_table().set_index("variant")
    assert dict(table["base_tokens"]) == {n: tokens[n] for n in fits}
    assert table.loc["base", "pass_rate"] == 1.0
    assert table.loc["-write_file", "pass_rate"] == 0.0  # the agent needs the tool it lost
    points = [(float(r), int(t)) for r, t in zip(table["pass_rate"], table["base_tokens"])]
    assert list(table["pareto"]) == brute_front(points)
    report = str(cmp)
    assert "pass rate vs base request" in report and "Pareto front" in report
    assert f"budget {cap:,} tokens" in report and "over budget, not run: +grep" in report


@pytest.mark.slow
def test_reflect_rejects_a_proposal_over_the_budget_before_it_runs(tmp_path):
    pytest.importorskip("gepa", reason="reflect needs the optional gepa package ([optimize])")
    from claw_nb.lab.optimize import ReflectionModel, ReflectOptions, load_steps, reflect
    from claw_nb.testing import ScriptedServer
    from claw_nb.testing.lab_demo import demo_tasks, scripted_reflection

    split = {
        "train": ["demo-amber", "demo-birch", "demo-delta"],
        "val": ["demo-ember", "demo-grove"],
        "held_out": ["demo-heron", "demo-jasper"],
    }
    tasks = [t for t in demo_tasks(18) if t.name in sum(split.values(), [])]
    seed = BaseRequestCounter().count(Variant("seed")).tokens
    db = tmp_path / "lab.duckdb"
    with ScriptedServer(default=scripted_reflection(["bloat", "write"])) as server:
        result = reflect(
            tasks,
            split=split,
            run="budgeted",
            db_path=db,
            reflection_model=ReflectionModel("openai/scripted", api_base=server.url, api_key="k"),
            options=ReflectOptions(budget=13, held_out_repeats=1, max_prompt_tokens=seed + 40),
            model="openai/scripted",
            api_base=server.url,
            api_key="sk-test",
            unsandboxed=True,
        )
    steps = load_steps(db, "budgeted")
    rejected = list(steps.loc[steps.status == "rejected", "reason"])
    assert len(rejected) == 1 and rejected[0].startswith("over budget: the base request is")
    assert f"budget {seed + 40:,}" in rejected[0]
    prompts = steps.reflection_prompt.dropna()
    assert f"must stay within {seed + 40:,} tokens" in prompts.iloc[0]
    assert "accepted" in set(steps.status)  # the short proposal that followed was run
    assert (
        BaseRequestCounter()
        .count(Variant("w", system_prompt=result.best_texts["system_prompt"]))
        .tokens
        <= seed + 40
    )
    with pytest.raises(ConfigError, match="the seed variant 'seed' is"):
        reflect(
            tasks,
            split=split,
            run="too-small",
            db_path=db,
            reflection_model=ReflectionModel("openai/scripted", api_base="http://127.0.0.1:9"),
            options=ReflectOptions(budget=13, max_prompt_tokens=seed - 1),
            model="openai/scripted",
        )


def test_a_command_line_agent_has_no_base_request_to_budget():
    agent = Variant.from_dict("tiny", {"agent_command": "python tiny.py {instruction}"})
    with pytest.raises(ConfigError, match="runs its own agent"):
        BaseRequestCounter().count(agent)


def test_the_counted_schemas_are_those_a_trial_agent_sends(scripted_server, workspace, tmp_path):
    """What is counted is what the server receives: the tool schemas of a real request."""
    from claw_nb.api import build_agent
    from claw_nb.config import load_config
    from claw_nb.context.tokens import TokenCounter
    from claw_nb.testing import text

    variant = Variant("lean", tools=("read_file", "write_file"))
    scripted_server.queue(text("done"))
    config = load_config(
        workspace,
        db_path=tmp_path / "log.duckdb",
        model="openai/scripted",
        api_base=scripted_server.url,
        api_key="k",
        stream=False,
    )
    agent, log = build_agent(  # as a lab trial builds its agent
        config, mode="auto", tools=variant.tool_registry(), subagents=False, hooks=False
    )
    try:
        assert agent.run("nothing to do").ok
    finally:
        agent.close()
        log.close()
    sent = scripted_server.requests[0]["tools"]
    base = BaseRequestCounter().count(variant)
    assert [t["function"]["name"] for t in sent] == [*base.tools, "read_output"]
    assert TokenCounter("").tools(sent) == base.tool_tokens
