"""Command-line agents as lab variants, end to end against the scripted server: a fresh
workspace in the sandbox, calls through the recording proxy with the server's token counts,
the task's timeout, the verifier's verdict, a refused missing command, and a compare."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from claw_nb.errors import ConfigError
from claw_nb.lab.runner import run_experiment
from claw_nb.lab.store import load_results
from claw_nb.lab.tasks import load_tasks
from claw_nb.lab.variants import Variant
from claw_nb.testing import text
from tests.lab.lab_helpers import SOLVER_PROMPT, TASKS, solver_reply
from tests.lab.test_runner import UNSANDBOXED

TINY = Path(__file__).with_name("tiny_agent.py")
USAGE = {"prompt_tokens": 123, "completion_tokens": 45}


def tiny(name: str = "tiny", *flags: str, model: str | None = None) -> Variant:
    command = (
        f"{shlex.quote(sys.executable)} {shlex.quote(str(TINY))} {{instruction}} {' '.join(flags)}"
    )
    return Variant.from_dict(
        name, {"agent_command": command, **({"model": model} if model else {})}
    )


def writes(path: str, content: str):
    return text(f"WRITE {path}\n{content}", usage=USAGE)


def tiny_or_solver(request: dict):
    """The tiny agent (system prompt TINY) is told to write hello; claw's loop is scripted."""
    if request["messages"][0].get("content") == "TINY":
        return writes("greeting.txt", "hello\n")
    return solver_reply(request)


def run(server, tmp_path: Path, tasks, variants, **kw):
    return run_experiment(
        load_tasks(tasks),
        variants,
        db_path=tmp_path / "lab.duckdb",
        model="openai/scripted",
        api_base=server.url,
        api_key="sk-real",
        unsandboxed=UNSANDBOXED,
        options={"stream": False},
        **kw,
    )


def test_an_agent_trial_counts_the_tokens_the_server_reported(scripted_server, tmp_path):
    scripted_server.default = tiny_or_solver
    exp = run(scripted_server, tmp_path, TASKS[:1], [tiny("tiny", "--calls", "3")], experiment="t")
    [result] = exp.results()
    assert (result.passed, result.stop_reason, result.error) == (True, "completed", None)
    assert result.steps == 3 == len(scripted_server.requests)
    assert (result.prompt_tokens, result.completion_tokens) == (3 * 123, 3 * 45)
    assert result.session_id is None  # the agent's session is its own
    # the real key went upstream from the proxy; the agent only had a dummy one
    auth = {m["headers"].get("Authorization") for m in scripted_server.request_meta}
    assert auth == {"Bearer sk-real"}


def test_a_streaming_agent_gets_its_stream_and_the_usage_is_counted(scripted_server, tmp_path):
    scripted_server.default = tiny_or_solver
    exp = run(scripted_server, tmp_path, TASKS[:1], [tiny("tiny", "--stream")], experiment="s")
    [result] = exp.results()
    assert result.passed, result.error
    assert (result.steps, result.prompt_tokens, result.completion_tokens) == (1, 123, 45)
    # the proxy asked for the usage chunk; the tiny agent asserts it never saw it
    assert scripted_server.requests[0]["stream_options"] == {"include_usage": True}


def test_the_verifier_decides_and_the_workspace_is_fresh(scripted_server, tmp_path):
    # the agent writes the wrong text: its exit code is 0, the verifier still fails it
    scripted_server.default = lambda req: writes("greeting.txt", "goodbye\n")
    exp = run(scripted_server, tmp_path, TASKS[:1], [tiny()], repeats=2, experiment="v")
    results = exp.results()
    assert [(r.passed, r.reward, r.stop_reason) for r in results] == [(False, 0.0, "completed")] * 2


def test_an_agent_past_the_timeout_is_killed(scripted_server, tmp_path):
    task = dict(TASKS[0], name="slow", agent_timeout_sec=1.5)
    variant = Variant.from_dict("sleeper", {"agent_command": "sleep 60; echo hello > greeting.txt"})
    exp = run(scripted_server, tmp_path, [task], [variant], experiment="slow")
    [result] = exp.results()
    assert (result.stop_reason, result.reward) == ("timeout", 0.0)
    assert "timeout" in result.error and result.wall_s < 30


def test_a_missing_command_is_refused_in_one_line(scripted_server, tmp_path):
    variant = Variant.from_dict("ghost", {"agent_command": "no-such-agent-xyz {instruction}"})
    with pytest.raises(ConfigError) as info:
        run(scripted_server, tmp_path, TASKS[:1], [variant], experiment="ghost")
    message = str(info.value)
    assert "'no-such-agent-xyz' not found" in message and "\n" not in message
    assert not scripted_server.requests


def test_a_failing_agent_is_an_error_with_its_last_words(scripted_server, tmp_path):
    variant = Variant.from_dict("crash", {"agent_command": "echo 'no model for me' >&2; exit 3"})
    [result] = run(scripted_server, tmp_path, TASKS[:1], [variant], experiment="c").results()
    assert result.stop_reason == "error" and "no model for me" in result.error


def test_claw_against_an_outside_agent_gives_a_leaderboard(scripted_server, tmp_path):
    scripted_server.default = tiny_or_solver
    variants = [Variant("claw", system_prompt=SOLVER_PROMPT), tiny("tiny")]
    exp = run(scripted_server, tmp_path, TASKS[:2], variants, experiment="cmp")
    by_key = {(r.variant, r.task): r for r in exp.results()}
    assert by_key[("claw", "write-hello")].passed and by_key[("claw", "fix-number")].passed
    assert by_key[("tiny", "write-hello")].passed and not by_key[("tiny", "fix-number")].passed
    assert by_key[("tiny", "write-hello")].prompt_tokens == 123
    board = exp.leaderboard()
    assert list(board["variant"]) == ["claw", "tiny"]
    rates = dict(zip(board["variant"], board["pass_rate"]))
    assert rates == {"claw": 1.0, "tiny": 0.5}


def test_loop_settings_next_to_an_agent_command_are_refused():
    with pytest.raises(ConfigError, match="only apply to claw's own loop"):
        Variant.from_dict("x", {"agent_command": "mini", "system_prompt": "hi"})
    with pytest.raises(ConfigError, match=r"unknown placeholder\(s\) \{instructions\}"):
        Variant.from_dict("x", {"agent_command": "mini -t {instructions}"})


def test_an_instruction_is_quoted_once(tmp_path):
    from claw_nb.lab.external_agent import render_command

    line = render_command(
        "agent {instruction} --model {model} --m2 {litellm_model} --base {api_base} ${HOME}",
        instruction="it's {model}; rm -rf /",
        workspace=tmp_path,
        model="openai/qwen",
    )
    assert shlex.split(line.replace('"$CLAW_LAB_API_BASE"', "B")) == [
        "agent",
        "it's {model}; rm -rf /",
        "--model",
        "qwen",
        "--m2",
        "openai/qwen",
        "--base",
        "B",
        "${HOME}",
    ]


def test_results_survive_a_reload(scripted_server, tmp_path):
    scripted_server.default = tiny_or_solver
    run(scripted_server, tmp_path, TASKS[:1], [tiny()], experiment="r")
    [row] = load_results(tmp_path / "lab.duckdb", "r")
    assert (row.variant, row.steps, row.prompt_tokens, row.completion_tokens) == (
        "tiny",
        1,
        123,
        45,
    )


def test_agent_files_cannot_smuggle_shell_or_files():
    from claw_nb.errors import ConfigError
    from claw_nb.lab.variants import Variant

    with pytest.raises(ConfigError, match="inside quotes"):
        Variant.from_dict("q", {"agent_command": 'agent "{instruction}"'})
    with pytest.raises(ConfigError, match="agent_env names must be VAR names"):
        Variant.from_dict("e", {"agent_command": "agent {instruction}", "agent_env": {"A;rm": "1"}})
    ok = Variant.from_dict(
        "ok", {"agent_command": "agent -t {instruction}", "agent_env": {"A_1": 2}}
    )
    assert ok.agent_env == {"A_1": "2"}


def test_a_variant_prompt_file_stays_beside_the_variant(tmp_path):
    from claw_nb.errors import ConfigError
    from claw_nb.lab.variants import Variant

    secret = tmp_path / "secret.txt"
    secret.write_text("key")
    folder = tmp_path / "variants"
    folder.mkdir()
    (folder / "p.md").write_text("You are terse.\n")
    (folder / "link.md").symlink_to(secret)
    (folder / "good.toml").write_text('system_prompt_file = "p.md"\n')
    assert Variant.from_file("good", folder / "good.toml").system_prompt == "You are terse.\n"
    for name, ref in (("up", "../secret.txt"), ("abs", str(secret)), ("link", "link.md")):
        (folder / f"{name}.toml").write_text(f"system_prompt_file = {ref!r}\n")
        with pytest.raises(ConfigError, match="system_prompt_file"):
            Variant.from_file(name, folder / f"{name}.toml")
