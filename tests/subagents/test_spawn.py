"""Starting a subagent: what the child gets from its parent (never more), how deep children
nest, how a child ends, and the hook point where it does. In memory (`ScriptedModel`); the
end-to-end tests are tests/cli/test_subagents.py and tests/jupyter/test_subagents.py."""

from __future__ import annotations

import json

import pytest

from claw_nb import events as ev
from claw_nb.api import build_agent
from claw_nb.config import load_config
from claw_nb.errors import SubagentSettingsError
from claw_nb.sandbox import PlainRunner
from claw_nb.subagents.spawn import SubagentSettings
from claw_nb.testing import ScriptedModel, call, text, tool_calls
from claw_nb.tools import ToolRegistry, default_tools, tool
from tests.helpers import ByTask, Recorder


class Log(Recorder):
    """The agent's log as a list of events (build_agent closes its log)."""

    def close(self) -> None:
        pass


def make(workspace, router, *, mode="auto", approver=None, settings="", tools=None, model=None):
    if settings:
        (workspace / ".claw").mkdir(exist_ok=True)
        (workspace / ".claw" / "settings.toml").write_text(settings)
    config = load_config(workspace, model="openai/scripted", api_base="http://127.0.0.1:9/v1")
    log = Log()
    options = {"approver": approver} if approver is not None else {}
    agent, _ = build_agent(
        config,
        mode=mode,
        log=log,
        runner=PlainRunner(),
        model=model or ScriptedModel(default=router),
        tools=tools,
        **options,
    )
    return agent, log


def wired(workspace, model, make_model=None):
    """(agent, its Subagents, log) wired as `api.build_agent` wires them, the team in hand."""
    from claw_nb.agent import Agent
    from claw_nb.permissions import PermissionPolicy
    from claw_nb.subagents.spawn import Subagents

    config = load_config(workspace, model="openai/scripted")
    runner, log = PlainRunner(), Log()
    team = Subagents(
        config, model=model, runner=runner, tools=default_tools(), make_model=make_model
    )
    agent = Agent(
        config,
        model=model,
        runner=runner,
        authorize=PermissionPolicy(mode="auto", sandboxed=False),
        tools=ToolRegistry([*default_tools(), team.task_tool()]),
        listeners=[log],
    )
    team.attach(agent)
    return agent, team, log


def task(prompt, **more):
    return tool_calls(call("task", {"description": "d", "prompt": prompt, **more}))


def names(request):
    return sorted(t["function"]["name"] for t in request["tools"])


def results(log, session_id):
    return [e for e in log.of(ev.ToolCallFinished) if e.session_id == session_id]


def test_a_child_runs_under_the_mode_of_the_parents_run_not_a_wider_one(workspace):
    router = ByTask(
        TOP=[task("KID: write"), text("ok")],
        KID=[tool_calls(call("write_file", {"path": "x.txt", "content": "x"})), text("no")],
    )
    agent, log = make(workspace, router, mode="auto")
    agent.run("TOP", mode="read-only")  # the agent's policy says auto; this run is read-only
    (started,) = [e for e in log.of(ev.SessionStarted) if e.parent_session_id]
    (write,) = results(log, started.session_id)
    assert write.error_kind == "denied" and "read-only" in write.decision
    assert not (workspace / "x.txt").exists()


def test_a_task_tool_run_outside_a_call_still_has_the_parents_policy(workspace):
    from claw_nb.tools import ToolContext

    router = ByTask(
        KID=[tool_calls(call("write_file", {"path": "x.txt", "content": "x"})), text("no")]
    )
    agent, log = make(workspace, router, mode="read-only")
    context = ToolContext(workspace=workspace, runner=PlainRunner())  # no call, no authorizer
    agent.tools.get("task").run(context, {"description": "d", "prompt": "KID: write"})
    (write,) = [e for e in log.of(ev.ToolCallFinished) if e.tool == "write_file"]
    assert write.error_kind == "denied" and not (workspace / "x.txt").exists()


def test_what_would_ask_asks_the_parents_approver(workspace):
    asked = []

    def approver(request):
        asked.append(request.tool)
        return "no"

    router = ByTask(
        TOP=[task("KID: write"), text("ok")],
        KID=[tool_calls(call("write_file", {"path": "x.txt", "content": "x"})), text("no")],
    )
    agent, log = make(workspace, router, mode="ask", approver=approver)
    agent.run("TOP")
    assert asked == ["write_file"] and not (workspace / "x.txt").exists()


def test_by_default_only_the_top_agent_has_the_task_tool(workspace):
    router = ByTask(TOP=[task("KID: look"), text("ok")], KID=[text("seen")])
    agent, _ = make(workspace, router)
    assert agent.run("TOP").ok
    assert "task" in names(router.requests["TOP"][0])
    assert "task" not in names(router.requests["KID"][0])


def test_max_depth_two_lets_a_child_start_one_more_level(workspace):
    router = ByTask(
        TOP=[task("KID: delegate"), text("top done")],
        KID=[task("DEEPER: look"), text("kid done")],
        DEEPER=[text("grandkid done")],
    )
    agent, log = make(workspace, router, settings="[subagents]\nmax_depth = 2\n")
    assert agent.run("TOP").ok
    assert "task" in names(router.requests["KID"][0])
    assert "task" not in names(router.requests["DEEPER"][0])
    top, kid, grandkid = log.of(ev.SessionStarted)
    assert (kid.parent_session_id, grandkid.parent_session_id) == (top.session_id, kid.session_id)
    assert "grandkid done" in json.dumps(router.requests["KID"][1]["messages"][-1])


def test_max_depth_zero_leaves_the_task_tool_out(workspace):
    agent, _ = make(workspace, ByTask(), settings="[subagents]\nmax_depth = 0\n")
    assert "task" not in agent.tools


@pytest.mark.parametrize(
    "section", ["max_depth = -1", "max_steps = 0", "max_steps = 'ten'", "depth = 2"]
)
def test_bad_subagent_settings_say_which(section):
    with pytest.raises(SubagentSettingsError):
        SubagentSettings.from_settings({"subagents": dict([_toml_pair(section)])})


def _toml_pair(line):
    import tomllib

    return next(iter(tomllib.loads(line).items()))


def test_a_child_that_runs_out_of_steps_is_a_failed_call_with_its_last_words(workspace):
    router = ByTask(
        TOP=[task("KID: loop"), text("ok")],
        KID=[
            tool_calls(call("list_files", {"path": "."}), content="Looking around."),
            tool_calls(call("list_files", {"path": "sub"}), content="Still looking."),
        ],
    )
    agent, log = make(workspace, router, settings="[subagents]\nmax_steps = 2\n")
    agent.run("TOP")
    (finished,) = results(log, agent.session_id)
    assert finished.tool == "task" and not finished.ok and finished.error_kind == "tool_error"
    assert "max_steps=2" in finished.result and "Still looking." in finished.result


def test_the_result_lists_the_files_the_child_changed_and_the_hook_gets_its_record(workspace):
    router = ByTask(
        TOP=[task("KID: write two files"), text("ok")],
        KID=[
            tool_calls(
                call("write_file", {"path": "a.txt", "content": "a"}),
                call("write_file", {"path": "b.txt", "content": "b"}),
            ),
            tool_calls(call("edit_file", {"path": "a.txt", "old_string": "a", "new_string": "A"})),
            text("Wrote them."),
        ],
    )
    agent, team, _ = wired(workspace, ScriptedModel(default=router))
    ended = []
    team.on_end.append(ended.append)
    assert agent.run("TOP").ok
    (record,) = ended
    assert record.changed == ("a.txt", "b.txt") and record.commands == 0
    assert record.parent_session_id == agent.session_id and record.answer == "Wrote them."
    assert record.result.steps == 3 and record.agent_name is None
    sent = router.requests["TOP"][1]["messages"][-1]["content"]
    assert "Wrote them." in sent and "Files changed: a.txt, b.txt" in sent


def test_ctrl_c_in_the_child_stops_the_parent_too(workspace):
    @tool("read")
    def wait_for_user(ctx) -> str:
        """Stands for a long wait that the user cuts short with Ctrl-C."""
        raise KeyboardInterrupt

    router = ByTask(
        TOP=[task("KID: wait"), text("the parent must not get here")],
        KID=[tool_calls(call("wait_for_user", {})), text("nor the child")],
    )
    agent, log = make(workspace, router, tools=ToolRegistry([*default_tools(), wait_for_user]))
    result = agent.run("TOP")
    assert result.stop_reason == "interrupted"
    assert len(router.requests["TOP"]) == 1 and len(router.requests["KID"]) == 1
    assert [e.stop_reason for e in log.of(ev.SessionEnded)] == ["interrupted", "interrupted"]


def test_an_unknown_agent_is_a_result_that_names_the_agents_there_are(workspace):
    (workspace / ".claw" / "agents").mkdir(parents=True)
    (workspace / ".claw" / "agents" / "scout.md").write_text(
        "---\nname: scout\ndescription: Scouts ahead.\n---\nScout.\n"
    )
    router = ByTask(TOP=[task("KID: x", agent="nobody"), text("ok")])
    agent, log = make(workspace, router)
    assert "- scout: Scouts ahead." in agent.tools.get("task").description
    agent.run("TOP")
    (finished,) = results(log, agent.session_id)
    assert "no agent named 'nobody'" in finished.result
    assert "general-purpose, scout" in finished.result


def test_an_agent_definition_runs_on_its_own_model_and_tools(workspace):
    (workspace / ".claw" / "agents").mkdir(parents=True)
    (workspace / ".claw" / "agents" / "reader.md").write_text(
        "---\nname: reader\ntools: Read, Grep\nmodel: openai/other\n---\nYou read.\n"
    )
    router = ByTask(TOP=[task("KID: read", agent="reader"), text("ok")])
    other = ScriptedModel([text("read it")], name="openai/other")
    closed, asked_for = [], []
    other.close = lambda: closed.append(True)

    def make_model(config):
        asked_for.append(config.model)
        return config, other

    agent, _, log = wired(workspace, ScriptedModel(default=router), make_model)
    assert agent.run("TOP").ok
    assert asked_for == ["openai/other"]
    (request,) = other.requests
    assert request["messages"][0]["content"].startswith("You read.")
    sent = sorted(t["function"]["name"] for t in request["tools"])
    assert sent == ["grep", "read_file", "read_output"]  # read_output: context management's
    assert closed == [True]  # the child's own model is closed with the child
    child = [e for e in log.of(ev.SessionStarted) if e.parent_session_id][0]
    assert (child.agent_name, child.model) == ("reader", "openai/other")
