"""The model catalog: windows and prices of known models; a local model's name costs no parse."""

from __future__ import annotations

import importlib.util

import pytest

from claw_nb.model import catalog


@pytest.fixture
def fresh(monkeypatch):
    """An empty cache, and a catalog of our own when given one."""

    read = catalog._catalog_bytes

    def use(raw: bytes | None = None):
        catalog._catalog.cache_clear()
        catalog._may_list.cache_clear()
        catalog._may_end_a_name.cache_clear()
        catalog._escapes_could_spell_a_name.cache_clear()
        read.cache_clear()
        if raw is not None:
            monkeypatch.setattr(catalog, "_catalog_bytes", lambda: raw)

    yield use
    catalog._catalog.cache_clear()
    catalog._may_list.cache_clear()
    catalog._may_end_a_name.cache_clear()
    catalog._escapes_could_spell_a_name.cache_clear()
    read.cache_clear()


def test_a_name_nowhere_in_the_file_is_unknown_without_parsing_it(fresh):
    fresh(b'{"gpt-x": {"max_input_tokens": 100, "input_cost_per_token": 1e-06}}')
    assert catalog.model_info("openai/scripted") is None
    assert catalog.context_window("openai/scripted") is None
    assert catalog._catalog.cache_info().misses == 0  # never parsed


def test_a_listed_name_gets_its_window_and_price(fresh):
    fresh(b'{"gpt-x": {"max_input_tokens": 100, "input_cost_per_token": 1e-06}}')
    assert catalog.context_window("openai/gpt-x") == 100
    assert catalog.cost_usd("gpt-x", 1000, 0) == pytest.approx(0.001)


def test_an_escaped_backslash_is_no_reason_to_parse(fresh):
    fresh(b'{"gpt-x": {"note": "a \\\\ b \\"q\\" ", "max_tokens": 3}}')
    assert catalog.model_info("scripted") is None
    assert catalog._catalog.cache_info().misses == 0


def test_an_escaped_key_is_still_found(fresh):
    fresh(b'{"vendor\\/gpt-x": {"max_tokens": 7}, "\\u0067pt-y": {"max_tokens": 9}}')
    assert catalog.context_window("vendor/gpt-x") == 7
    assert catalog.context_window("gpt-y") == 9


NO_LITELLM = (
    "LiteLLM is not installed, so its catalog file is missing (a dependency of claw_nb: "
    "pip install -e . installs it)"
)


@pytest.mark.skipif(importlib.util.find_spec("litellm") is None, reason=NO_LITELLM)
def test_litellms_own_catalog_knows_a_cloud_model_and_not_a_local_one(fresh):
    fresh()
    assert catalog.context_window("openai/gpt-4o-mini")
    catalog._catalog.cache_clear()
    assert catalog.model_info("hosted_vllm/my-local-model") is None
    assert catalog._catalog.cache_info().misses == 0


@pytest.mark.skipif(importlib.util.find_spec("litellm") is None, reason=NO_LITELLM)
def test_the_byte_search_answers_as_the_parsed_catalog_does(fresh):
    """Every 20th key of LiteLLM's file, as given and behind a provider prefix, and names that
    end like a key without being one: the searched (mapped) file agrees with a full parse."""
    fresh()
    parsed = catalog._catalog()
    keys = [k for k in parsed if isinstance(parsed[k], dict) and k != "sample_spec"][::20]
    assert len(keys) > 50
    names = [*keys, *(f"openai/{k}" for k in keys), *(f"x{k}" for k in keys[:20])]
    names += ["hosted_vllm/my-local-model", "ollama/qwen3-coder:30b", "openai/scripted"]
    for name in names:
        catalog._may_list.cache_clear()
        catalog._may_end_a_name.cache_clear()
        want = parsed.get(name)
        if want is None and "/" in name:
            want = parsed.get(name.split("/", 1)[1])
        want = want if isinstance(want, dict) else None
        assert catalog.model_info(name) == want, name


def test_a_catalog_file_past_its_bound_is_not_read(fresh, tmp_path, monkeypatch):
    """A LiteLLM in a folder the agent could write may hold any file there: past the bound
    nothing of it is kept, and every model is unknown."""
    catalog_file = tmp_path / catalog.CATALOG_FILE
    catalog_file.write_text('{"gpt-x": {"max_tokens": 7}}' + " " * 100)
    monkeypatch.setattr(catalog, "_catalog_path", lambda: catalog_file)
    fresh()
    assert catalog.context_window("gpt-x") == 7
    fresh()
    monkeypatch.setattr(catalog, "MAX_CATALOG_BYTES", 64)
    assert catalog._catalog_bytes() == b"" and catalog.context_window("gpt-x") is None
