"""Settings resolution: defaults < settings file < environment < options."""

from __future__ import annotations

import pytest

from claw_nb.config import DEFAULT_MODEL, ConfigError, load_config


def test_defaults_leave_the_model_to_resolution(tmp_path, monkeypatch):
    for var in ("CLAW_MODEL", "CLAW_API_BASE", "CLAW_API_KEY", "CLAW_DB", "OLLAMA_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    config = load_config(tmp_path)
    assert config.model == DEFAULT_MODEL == "auto"  # claw_nb.model.resolve picks it
    assert config.effective_api_base is None
    assert config.resolved_db_path == tmp_path.resolve() / ".claw" / "claw.duckdb"


def test_file_then_env_then_options(tmp_path, monkeypatch):
    (tmp_path / ".claw").mkdir()
    (tmp_path / ".claw" / "settings.toml").write_text(
        'model = "openai/from-file"\nmax_steps = 7\nnum_ctx = 8192\n'
    )
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
        '[tool.claw]\nmodel = "ollama_chat/py"\n[tool.claw.sandbox]\nnetwork = true\n'
        '[tool.claw.permissions]\nmode = "auto"\n'
    )
    config = load_config(tmp_path)
    assert config.model == "ollama_chat/py"
    assert "sandbox" not in config.settings and "permissions" not in config.settings


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("max_steps", "many", "'max_steps' must be a positive integer"),
        ("temperature", -1, "'temperature' must be a non-negative number"),
        ("colour", "red", "unknown setting 'colour'"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, **{key: value})


def test_broken_settings_file_names_the_file(tmp_path):
    (tmp_path / ".claw").mkdir()
    (tmp_path / ".claw" / "settings.toml").write_text("model = ")
    with pytest.raises(ConfigError, match="settings.toml: not valid TOML"):
        load_config(tmp_path)


# -- what a workspace file may set (issue 10, class 1) -----------------------------------------


def _clear_env(monkeypatch):
    for var in ("CLAW_MODEL", "CLAW_API_BASE", "CLAW_API_KEY", "CLAW_DB"):
        monkeypatch.delenv(var, raising=False)


def test_pyproject_may_set_only_the_model_and_limits(tmp_path, monkeypatch):
    """Sandboxed commands can write pyproject.toml: it must not move the workspace or the log,
    redirect the endpoint (and the key with it), set a key, or pick a prompt or tokenizer."""
    _clear_env(monkeypatch)
    secret = tmp_path / "secret.md"
    secret.write_text("TOP SECRET\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text(
        '[tool.claw]\nmodel = "openai/py"\nmax_steps = 3\ntemperature = 0.5\n'
        'workspace = "/"\ndb_path = "/tmp/elsewhere.duckdb"\napi_base = "http://127.0.0.1:9"\n'
        f'api_key = "sk-attacker"\nprompt_name = "{secret}"\ntokenizer = "{secret}"\n'
        '[tool.claw.sandbox]\nnetwork = true\n[tool.claw.permissions]\nmode = "auto"\n'
    )
    config = load_config(ws)
    assert (config.max_steps, config.temperature) == (3, 0.5)
    assert config.model == "auto", "openai/py with no local endpoint would reach the cloud"
    assert config.workspace == ws.resolve()
    assert config.resolved_db_path == ws.resolve() / ".claw" / "claw.duckdb"
    assert config.api_base is None and config.api_key is None
    assert config.prompt_name == "default" and config.tokenizer is None
    assert config.settings == {}
    for key in (
        "workspace",
        "db_path",
        "api_base",
        "api_key",
        "prompt_name",
        "tokenizer",
        "sandbox",
        "permissions",
    ):
        assert any(key in item for item in config.ignored_settings), key


def test_the_workspace_argument_always_wins(tmp_path, monkeypatch):
    _clear_env(monkeypatch)
    (tmp_path / ".claw").mkdir()
    (tmp_path / ".claw" / "settings.toml").write_text('workspace = "/"\n')
    assert load_config(tmp_path).workspace == tmp_path.resolve()
    assert load_config(cwd=tmp_path).workspace == tmp_path.resolve()


def test_settings_file_may_not_set_the_log_a_key_or_the_workspace(tmp_path, monkeypatch):
    _clear_env(monkeypatch)
    (tmp_path / ".claw").mkdir()
    (tmp_path / ".claw" / "settings.toml").write_text(
        'api_base = "http://localhost:8000/v1"\ndb_path = "/elsewhere.duckdb"\n'
        'api_key = "sk-in-a-file"\nworkspace = "/"\n[sandbox]\nnetwork = false\n'
    )
    config = load_config(tmp_path)
    assert config.api_base == "http://localhost:8000/v1"
    assert config.api_key is None and config.db_path is None
    assert config.settings == {"sandbox": {"network": False}}
    assert load_config(tmp_path, db_path=tmp_path / "x.duckdb").db_path == tmp_path / "x.duckdb"


def test_a_prompt_from_a_file_resolves_inside_claw_prompts(tmp_path, monkeypatch):
    _clear_env(monkeypatch)
    prompts = tmp_path / ".claw" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "mine.md").write_text("Be brief. $tools\n")
    settings = tmp_path / ".claw" / "settings.toml"
    settings.write_text('prompt_name = "mine"\n')
    assert load_config(tmp_path).prompt_name == str((prompts / "mine.md").resolve())
    settings.write_text('prompt_name = "default"\n')
    assert load_config(tmp_path).prompt_name == "default"  # claw_nb's own


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "workspace-file"])
def test_a_prompt_file_outside_claw_prompts_is_refused(tmp_path, monkeypatch, how):
    """The attack read a hidden file into the system prompt (and so to the model)."""
    _clear_env(monkeypatch)
    secret = tmp_path / "id_rsa.md"
    secret.write_text("PRIVATE KEY\n")
    ws = tmp_path / "ws"
    prompts = ws / ".claw" / "prompts"
    prompts.mkdir(parents=True)
    (ws / "notes.md").write_text("in the workspace, not a prompt\n")
    value = {
        "absolute": str(secret),
        "dotdot": "../id_rsa.md",
        "symlink": "leak",
        "workspace-file": "notes.md",
    }[how]
    if how == "symlink":
        (prompts / "leak.md").symlink_to(secret)
    (ws / ".claw" / "settings.toml").write_text(f'prompt_name = "{value}"\n')
    config = load_config(ws)
    assert config.prompt_name == "default"
    assert any("prompt_name" in item for item in config.ignored_settings)


def test_a_tokenizer_file_must_be_inside_the_workspace(tmp_path, monkeypatch):
    _clear_env(monkeypatch)
    (tmp_path / ".claw").mkdir()
    settings = tmp_path / ".claw" / "settings.toml"
    settings.write_text('tokenizer = "/etc/passwd"\n')
    assert load_config(tmp_path).tokenizer is None
    settings.write_text('tokenizer = "Qwen/Qwen2.5-Coder-7B"\n')
    assert load_config(tmp_path).tokenizer == "Qwen/Qwen2.5-Coder-7B"
    (tmp_path / "tok.json").write_text("{}")
    settings.write_text('tokenizer = "tok.json"\n')
    assert load_config(tmp_path).tokenizer == str((tmp_path / "tok.json").resolve())


def test_explicit_options_win_over_every_file(tmp_path, monkeypatch):
    _clear_env(monkeypatch)
    (tmp_path / "pyproject.toml").write_text('[tool.claw]\nmodel = "openai/file"\n')
    config = load_config(tmp_path, model="openai/option", api_base="http://127.0.0.1:1/v1")
    assert (config.model, config.api_base) == ("openai/option", "http://127.0.0.1:1/v1")


@pytest.mark.parametrize(
    ("model", "api_base", "kept"),
    [
        ("anthropic/claude-sonnet-4-5", None, False),
        ("openai/gpt-4o", None, False),
        ("openai/local", "http://127.0.0.1:8080/v1", True),
        ("hosted_vllm/qwen", "http://192.168.1.20:8000/v1", True),
        ("openai/local", "https://api.example.com/v1", False),
        ("ollama_chat/qwen3-coder:30b", None, True),
        ("ollama/gpt-oss:120b-cloud", None, False),  # served by ollama.com through the daemon
        ("sagemaker/endpoint", "http://localhost:8080", False),  # ignores api_base
        ("openai/local", "localhost:8080/v1", True),
        ("openai/local", "http://127.0.0.1.example.com/v1", False),
        ("openai/local", "http://127.0.0.1@example.com/v1", False),
        ("openai/local", "http://[::ffff:10.0.0.1]:8000/v1", True),
        ("openai/local", "http://[2001:0::1]:8000/v1", False),
        ("local/SmolLM2-135M", None, True),
    ],
)
def test_a_model_named_by_pyproject_must_stay_on_this_machine_or_network(
    tmp_path, monkeypatch, model, api_base, kept
):
    """The agent can write pyproject.toml: it must not switch the next session to a cloud
    provider whose key is in the environment. The endpoint comes from you (here CLAW_API_BASE)."""
    _clear_env(monkeypatch)
    if api_base:
        monkeypatch.setenv("CLAW_API_BASE", api_base)
    (tmp_path / "pyproject.toml").write_text(f'[tool.claw]\nmodel = "{model}"\n')
    config = load_config(tmp_path)
    assert (config.model == model) is kept
    assert any("not a local model" in note for note in config.ignored_settings) is not kept
    if not kept:
        assert config.model == "auto"


def test_a_cloud_model_is_fine_from_you_or_the_protected_settings_file(tmp_path, monkeypatch):
    _clear_env(monkeypatch)
    (tmp_path / "pyproject.toml").write_text('[tool.claw]\nmodel = "anthropic/claude-x"\n')
    assert load_config(tmp_path, model="anthropic/claude-x").model == "anthropic/claude-x"
    monkeypatch.setenv("CLAW_MODEL", "anthropic/claude-x")
    assert load_config(tmp_path).model == "anthropic/claude-x"
    monkeypatch.delenv("CLAW_MODEL")
    (tmp_path / ".claw").mkdir()
    (tmp_path / ".claw" / "settings.toml").write_text('model = "anthropic/claude-x"\n')
    assert load_config(tmp_path).model == "anthropic/claude-x"


def test_ollama_counts_as_local_only_where_its_base_url_is(tmp_path, monkeypatch):
    _clear_env(monkeypatch)
    (tmp_path / "pyproject.toml").write_text('[tool.claw]\nmodel = "ollama/gpt-oss:120b"\n')
    monkeypatch.setenv("OLLAMA_API_BASE", "https://ollama.example.com")
    assert load_config(tmp_path).model == "auto"
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:11434")
    assert load_config(tmp_path).model == "ollama/gpt-oss:120b"
