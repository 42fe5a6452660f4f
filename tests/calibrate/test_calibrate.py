"""`claw-nb calibrate` against the scripted server imitating two kinds of model server."""

from __future__ import annotations

import json

import pytest

from claw_nb.calibrate import ProfileStore, apply_profile
from claw_nb.calibrate.probes import PROBES
from claw_nb.calibrate.run import calibrate, table
from claw_nb.cli import main
from claw_nb.config import load_config
from claw_nb.testing import ScriptedServer, error, text
from tests.calibrate.servers import native_server, text_only_server

MODEL = "openai/scripted"


@pytest.fixture(autouse=True)
def user_config(monkeypatch, tmp_path):
    """A config folder of this test's own: profiles never land in the real one."""
    folder = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for var in ("CLAW_MODEL", "CLAW_API_BASE", "CLAW_API_KEY", "CLAW_DB"):
        monkeypatch.delenv(var, raising=False)
    return folder / "claw_nb"


def _calibrate(server: ScriptedServer, workspace, repeats: int = 1, **options):
    config = load_config(workspace, model=MODEL, api_base=server.url, api_key="sk-test", **options)
    return calibrate(config, repeats=repeats, say=lambda _line: None)


def test_a_server_with_native_tools_gets_native_calls(workspace):
    with ScriptedServer(default=native_server) as server:
        profile = _calibrate(server, workspace)
    assert profile.chosen == "native_auto"
    rates = {r.format: (r.valid, r.requests) for r in profile.results}
    assert rates == {
        "native_auto": (4, 4),
        "native_required": (4, 4),
        "prompt_hermes": (0, 4),
        "prompt_qwen_xml": (0, 4),
    }


def test_a_server_that_ignores_tools_gets_them_in_the_prompt(workspace):
    with ScriptedServer(default=text_only_server) as server:
        profile = _calibrate(server, workspace)
        sent = server.requests
    assert profile.chosen == "prompt_hermes"
    assert profile.result("native_auto").valid == 0
    assert profile.result("prompt_hermes").valid == 4
    # what each format put on the wire
    native, prompted = sent[0], sent[2 * len(PROBES)]
    assert native["tools"] and native["tool_choice"] == "auto"
    assert sent[len(PROBES)]["tool_choice"] == "required"
    assert "tools" not in prompted and "<tools>" in prompted["messages"][0]["content"]
    xml = sent[3 * len(PROBES) + 1]  # the sequence probe: earlier calls written as Qwen XML
    assert "<function=write_file>" in json.dumps(xml["messages"])


def test_the_profile_file_holds_the_choice_and_the_figures(workspace, user_config):
    with ScriptedServer(default=text_only_server) as server:
        profile = _calibrate(server, workspace)
        url = server.url
    data = json.loads((user_config / "model_profiles.json").read_text())
    key = f"{MODEL} @ {url}"
    assert list(data["profiles"]) == [key]
    entry = data["profiles"][key]
    assert entry["model"] == MODEL and entry["endpoint"] == url
    assert entry["chosen"] == "prompt_hermes" and entry["repeats"] == 1
    assert entry["created"][:4].isdigit()
    formats = [r["format"] for r in entry["results"]]
    assert formats == ["native_auto", "native_required", "prompt_hermes", "prompt_qwen_xml"]
    hermes = entry["results"][2]
    assert (hermes["valid"], hermes["requests"]) == (4, 4)
    assert hermes["prompt_tokens"] > 0 and hermes["seconds"] >= 0 and hermes["error"] is None
    assert ProfileStore().all()[key] == profile


def _run_session(server: ScriptedServer, workspace, tmp_path, **options) -> dict:
    """One short session with the model; the first request the server received."""
    from claw_nb import create_agent

    before = len(server.requests)
    server.queue(text("done"))
    agent = create_agent(
        workspace,
        model=MODEL,
        api_base=server.url,
        api_key="sk-test",
        db_path=tmp_path / "claw.duckdb",
        log=False,
        **options,
    )
    with agent:
        agent.run("say done")
    return server.requests[before]


def test_a_later_session_uses_the_profile(workspace, tmp_path):
    with ScriptedServer(default=text_only_server) as server:
        _calibrate(server, workspace)
        server.default = None
        request = _run_session(server, workspace, tmp_path)
    assert "tools" not in request and "tool_choice" not in request
    assert "<tools>" in request["messages"][0]["content"]


def test_a_server_with_native_tools_keeps_native_tools_in_sessions(workspace, tmp_path):
    with ScriptedServer(default=native_server) as server:
        _calibrate(server, workspace)
        server.default = None
        request = _run_session(server, workspace, tmp_path)
    assert request["tools"] and request["tool_choice"] == "auto"


def test_settings_override_the_profile(workspace, tmp_path):
    with ScriptedServer(default=text_only_server) as server:
        _calibrate(server, workspace)
        server.default = None
        request = _run_session(server, workspace, tmp_path, tools_in_prompt=False)
    assert request["tools"] and request["tool_choice"] == "auto"
    assert "<tools>" not in request["messages"][0]["content"]


def test_the_profile_fills_only_what_the_settings_leave_open(workspace):
    with ScriptedServer(default=native_server) as server:
        _calibrate(server, workspace)
        store = ProfileStore()
        given = load_config(workspace, model=MODEL, api_base=server.url, tool_choice="required")
        assert apply_profile(given, store).tool_choice == "required"
        left_open = load_config(workspace, model=MODEL, api_base=server.url)
        assert apply_profile(left_open, store).tool_choice == "auto"
        other = load_config(workspace, model="openai/other", api_base=server.url)
        assert apply_profile(other, store) == other


def test_a_format_the_server_refuses_is_marked_and_skipped(workspace):
    def refuses_required(body):
        if body.get("tool_choice") == "required":
            return error(500, "tool_choice required is not supported")
        return native_server(body)

    with ScriptedServer(default=refuses_required) as server:
        profile = _calibrate(server, workspace, repeats=2)
        required = [r for r in server.requests if r.get("tool_choice") == "required"]
    refused = profile.result("native_required")
    assert refused.requests == 0 and "not supported" in refused.error
    assert len(required) == 1, "one refused request is enough"
    assert profile.chosen == "native_auto"
    assert "refused" in table(profile)


def test_intervals_are_wilson_intervals(workspace):
    scipy_stats = pytest.importorskip("scipy.stats")

    def half_right(body):  # valid for two probes of four (single, sequence): no call otherwise
        task = str(body["messages"][1]["content"])
        if task.startswith(("Show me", "Create hello.py")):
            return native_server(body)
        return text("no call")

    with ScriptedServer(default=half_right) as server:
        profile = _calibrate(server, workspace, repeats=3)
    for result in profile.results:
        if not result.requests:
            continue
        ci = scipy_stats.binomtest(result.valid, result.requests).proportion_ci(method="wilson")
        assert result.low == pytest.approx(ci.low, abs=1e-9)
        assert result.high == pytest.approx(ci.high, abs=1e-9)
    assert profile.result("native_auto").valid == 6  # 2 of 4 probes x 3 rounds
    assert "small sample: 12 requests" in table(profile)


def calibrate_cli(workspace, *words: str) -> int:
    """`claw calibrate --model MODEL WORDS... --cwd WORKSPACE`, its exit code."""
    return main(["calibrate", "--model", MODEL, *words, "--cwd", str(workspace)])


def test_the_cli_prints_progress_and_the_table_and_models_shows_the_profile(workspace, capsys):
    with ScriptedServer(default=native_server) as server:
        code = calibrate_cli(workspace, "--api-base", server.url, "--repeats", "1")
        out = capsys.readouterr().out
        assert code == 0
        assert "native_auto single (1/1): valid call" in out
        assert "prompt_hermes" in out and "<- chosen" in out
        assert main(["models", "--cwd", str(workspace)]) == 0
        listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if MODEL in line)
    assert "native_auto" in row and "4/4 valid calls" in row


def test_a_dead_server_gets_one_line(workspace, capsys):
    code = calibrate_cli(workspace, "--api-base", "http://127.0.0.1:9/v1")
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "http://127.0.0.1:9/v1" in err and "start a server" in err


def test_bad_repeats_is_a_usage_error(workspace, capsys):
    assert calibrate_cli(workspace, "--repeats", "0") == 2
    assert "--repeats" in capsys.readouterr().err


def test_no_valid_call_in_any_format_writes_no_profile(workspace, user_config, capsys):
    with ScriptedServer(default=text("I cannot use tools.")) as server:
        code = calibrate_cli(workspace, "--api-base", server.url, "--repeats", "1")
    out = capsys.readouterr().out
    assert code == 1
    assert "no profile written" in out
    assert not (user_config / "model_profiles.json").exists()
