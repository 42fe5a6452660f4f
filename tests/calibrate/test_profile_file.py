"""The profile file is read as data that may be damaged: bounded, a regular file, fields checked."""

from __future__ import annotations

import json
import os

import pytest

from claw_nb.calibrate import ModelProfile, ProfileStore, apply_profile
from claw_nb.calibrate.profile import MAX_PROFILE_BYTES, FormatResult
from claw_nb.config import load_config
from claw_nb.sandbox.exposure import secret_paths

URL = "http://127.0.0.1:8080/v1"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return ProfileStore()


def _profile(chosen="prompt_hermes", model="openai/m") -> ModelProfile:
    result = FormatResult(chosen, 8, 7, 0.5, 0.98, 400.0, 30.0, 1.5)
    return ModelProfile(model, URL, chosen, "2026-12-07T10:00:00+0000", 2, (result,))


def test_a_saved_profile_reads_back(store):
    store.save(_profile())
    store.save(_profile("native_required", model="openai/n"))
    assert set(store.all()) == {f"openai/m @ {URL}", f"openai/n @ {URL}"}
    assert store.all()[f"openai/m @ {URL}"] == _profile()


def _entry(**changes) -> dict:
    entry = _profile().to_json()
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    "entry",
    [
        _entry(chosen="run_anything"),
        _entry(chosen=["native_auto"]),
        _entry(repeats=True),
        _entry(repeats=-1),
        _entry(model="x" * 1000),
        _entry(results=[{"format": "prompt_hermes", "requests": 2, "valid": 5}]),
        _entry(results=[{**_profile().to_json()["results"][0], "low": float("nan")}]),
        _entry(results="many"),
        "not an object",
    ],
    ids=[
        "unknown-format",
        "list",
        "bool-repeats",
        "negative",
        "long-name",
        "valid>requests",
        "nan",
        "results-str",
        "str",
    ],
)
def test_an_entry_that_does_not_check_out_is_ignored(store, entry):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"profiles": {f"openai/m @ {URL}": entry}}))
    assert store.all() == {}
    config = load_config(store.path.parent, model="openai/m", api_base=URL)
    assert apply_profile(config, store) == config


def test_an_entry_filed_under_another_key_is_ignored(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"profiles": {"openai/other @ x": _profile().to_json()}}))
    assert store.all() == {}


def test_a_file_too_large_or_not_json_is_ignored(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{" * 100)
    assert store.all() == {}
    store.path.write_text(json.dumps({"profiles": {}, "pad": "x" * MAX_PROFILE_BYTES}))
    assert store.all() == {}


def test_a_link_or_a_fifo_is_not_read(store, tmp_path):
    real = tmp_path / "elsewhere.json"
    real.write_text(json.dumps({"profiles": {f"openai/m @ {URL}": _profile().to_json()}}))
    store.path.parent.mkdir(parents=True)
    store.path.symlink_to(real)
    assert store.all() == {}
    store.path.unlink()
    os.mkfifo(store.path)
    assert store.all() == {}  # returns at once: the read does not block


def test_the_profile_folder_is_hidden_from_commands(store):
    store.save(_profile())
    hidden = secret_paths()
    assert any(store.path.resolve().is_relative_to(p) for p in hidden)


def test_qwen_xml_dialect_applies_and_turns_the_hermes_grammar_off(store, tmp_path):
    store.save(_profile("prompt_qwen_xml"))
    config = load_config(tmp_path, model="openai/m", api_base=URL)
    config = config.with_options(tool_grammar=True)  # as the embedded model's resolution does
    applied = apply_profile(config, store)
    assert applied.tools_in_prompt and applied.tool_prompt_dialect == "qwen_xml"
    assert applied.tool_grammar is False
    mine = load_config(tmp_path, model="openai/m", api_base=URL, tool_prompt_dialect="hermes")
    assert apply_profile(mine, store).tool_prompt_dialect == "hermes"
