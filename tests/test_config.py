"""Settings resolution: defaults < settings file < environment < options."""

from __future__ import annotations

import pytest

from claw_nb.config import DEFAULT_MODEL, ConfigError, load_config


def test_defaults_leave_the_model_to_resolution(tmp_path, monkeypatch):
    for var in ("CLAW_MODEL", "CLAW_API_BASE", "CLAW_API_KEY", "CLAW_DB"):
        monkeypatch.delenv(var, raising=False)
    config = load_config(tmp_path)
    assert config.model == DEFAULT_MODEL == "auto"  # claw_nb.model.resolve picks it
    assert config.effective_api_base is None
    assert config.resolved_db_path == tmp_path.resolve() / ".claw" / "claw.duckdb"


def test_file_then_env_then_options(tmp_path, monkeypatch):
    (tmp_path / ".claw").mkdir()
    (tmp_path / ".claw" / "settings.toml").write_text(
        'model = "openai/from-file"\nmax_steps = 7\nnum_ctx = 8192\n')
    monkeypatch.delenv("CLAW_MODEL", raising=False)
    assert load_config(tmp_path).model == "openai/from-file"
    monkeypatch.setenv("CLAW_MODEL", "openai/from-env")
    config = load_config(tmp_path)
    assert (config.model, config.max_steps, config.num_ctx) == ("openai/from-env", 7, 8192)
    assert load_config(tmp_path, model="openai/from-option").model == "openai/from-option"


def test_pyproject_tool_claw_is_read_but_never_its_security_sections(tmp_path, monkeypatch):
    """A sandboxed command can write pyproject.toml, so it must not widen the sandbox."""
    monkeypatch.delenv("CLAW_MODEL", raising=False)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.claw]\nmodel = "openai/py"\n[tool.claw.sandbox]\nnetwork = true\n'
        '[tool.claw.permissions]\nmode = "auto"\n')
    config = load_config(tmp_path)
    assert config.model == "openai/py"
    assert "sandbox" not in config.settings and "permissions" not in config.settings


@pytest.mark.parametrize("key,value,message", [
    ("max_steps", "many", "'max_steps' must be a positive integer"),
    ("temperature", -1, "'temperature' must be a non-negative number"),
    ("colour", "red", "unknown setting 'colour'"),
])
def test_bad_settings_are_one_line_errors(tmp_path, key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, **{key: value})


def test_broken_settings_file_names_the_file(tmp_path):
    (tmp_path / ".claw").mkdir()
    (tmp_path / ".claw" / "settings.toml").write_text("model = ")
    with pytest.raises(ConfigError, match="settings.toml: not valid TOML"):
        load_config(tmp_path)
