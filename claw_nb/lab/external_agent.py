"""A trial of a command-line agent (mini-swe-agent, claw-code-agent...) instead of claw's loop.

A variant with ``agent_command`` runs that command in the trial's fresh workspace, inside the
same bubblewrap sandbox as claw's own commands (no network), with the task's timeout, and the
same verifier judges what it left. Its model calls go through a `RecordingProxy` on the host,
which counts the tokens the server reports: the sandbox keeps ``--unshare-net``; the proxy
listens on a unix socket whose folder is bound into the sandbox, and `agent_launcher` (run
inside) offers it to the agent as ``http://127.0.0.1:PORT/v1`` on the sandbox's own loopback.
So the agent reaches the model and nothing else on the host's network.

Placeholders in ``agent_command`` (each replaced by a shell-quoted value): ``{instruction}``,
``{workspace}``, ``{model}`` (the name the server knows, e.g. ``qwen2.5-coder``),
``{litellm_model}`` (with a LiteLLM provider, e.g. ``openai/qwen2.5-coder``) and ``{api_base}``
(the proxy's URL inside the sandbox). The agent's environment also has ``OPENAI_BASE_URL``,
``OPENAI_API_BASE``, ``OPENAI_API_KEY`` (a dummy: the real key stays in the proxy),
``OPENAI_MODEL``, a throwaway ``HOME`` and the variant's ``agent_env``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError
from claw_nb.lab.recording_proxy import ModelCall, RecordingProxy
from claw_nb.outcomes import StopReason
from claw_nb.records import record
from claw_nb.stop import StopToken

PLACEHOLDERS = ("instruction", "workspace", "model", "litellm_model", "api_base")
_PLACEHOLDER = re.compile(r"(?<!\$)\{([a-z_]+)\}")
# LiteLLM providers whose servers speak OpenAI's protocol: their prefix is not the server's name
_PROVIDERS = frozenset(
    {
        "openai",
        "hosted_vllm",
        "ollama_chat",
        "ollama",
        "litellm_proxy",
        "lm_studio",
        "llamafile",
        "openrouter",
        "vllm",
        "text-completion-openai",
        "custom_openai",
    }
)
STDERR_TAIL = 600


@record(frozen=True)
class ExternalRun:
    """How a command-line agent's run ended and what its model calls cost."""

    stop_reason: str
    error: str | None
    calls: int
    prompt_tokens: int
    completion_tokens: int
    exit_code: int | None


def check_template(variant: str, command: str) -> None:
    """Refuse a placeholder this module does not fill (a typo would reach the agent as text)."""
    unknown = sorted({m for m in _PLACEHOLDER.findall(command) if m not in PLACEHOLDERS})
    if unknown:
        raise ConfigError(
            f"variant {variant!r}: unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}"
            f" in agent_command; known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )
    for match in _PLACEHOLDER.finditer(command):
        before = command[: match.start()]
        if before.count("'") % 2 or before.count('"') % 2:
            raise ConfigError(
                f"variant {variant!r}: {{{match.group(1)}}} sits inside quotes in agent_command; "
                "write it bare: claw_nb quotes each value for the shell itself"
            )


def command_name(command: str) -> str:
    """The program an agent command starts (after any ``VAR=value`` words)."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(
            f"agent_command is not a valid command line ({exc}): {command!r}"
        ) from None
    for word in words:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word, flags=re.DOTALL):
            return word
    raise ConfigError(f"agent_command names no program: {command!r}")


def check_command(variant: Any) -> None:
    """A one-line ConfigError when the variant's agent program is not installed here."""
    if variant.agent_command is None:
        return
    name = command_name(variant.agent_command)
    if shutil.which(name) is None:
        raise ConfigError(
            f"variant {variant.name!r}: command {name!r} not found on PATH; install the agent "
            "(its variant file says how) or fix agent_command"
        )


def model_names(model: str | None) -> tuple[str, str]:
    """(the server's name, LiteLLM's name) of the trial's model."""
    model = model or "default"
    provider, sep, rest = model.partition("/")
    if sep and provider in _PROVIDERS:
        return rest, model
    return model, f"openai/{model}"


def render_command(template: str, *, instruction: str, workspace: Path, model: str | None) -> str:
    """The command line with its placeholders filled, in one pass (an instruction that holds
    ``{model}`` stays as written); ``{api_base}`` becomes the launcher's variable."""
    name, litellm = model_names(model)
    values = {
        "instruction": shlex.quote(instruction),
        "workspace": shlex.quote(str(workspace)),
        "model": shlex.quote(name),
        "litellm_model": shlex.quote(litellm),
        "api_base": '"$CLAW_LAB_API_BASE"',
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def run_external_agent(
    spec: Any,
    workspace: Path,
    tmp: Path,
    stop: StopToken,
    on_call: Callable[[ModelCall], None] | None = None,
) -> ExternalRun:
    """Run the variant's agent on the task in ``workspace`` until it exits or the task's
    timeout kills it; its tokens as the recording proxy counted them."""
    from claw_nb.lab.verify import require_sandbox
    from claw_nb.sandbox import SandboxSettings
    from claw_nb.sandbox import make_runner as sandbox_runner

    variant, task = spec.variant, spec.task
    check_command(variant)
    if not spec.api_base:
        raise ConfigError(
            f"variant {variant.name!r} runs an outside agent: give the model server's "
            "address (api_base), which the lab's recording proxy forwards to"
        )
    model = variant.model or spec.model
    channel = tmp / "model"
    channel.mkdir(mode=0o700)
    launcher = channel / "agent_launcher.py"
    launcher.write_text(
        resources.files("claw_nb.lab").joinpath("agent_launcher.py").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    if spec.unsandboxed:
        runner = sandbox_runner(SandboxSettings(enabled=False), workspace)
    else:
        require_sandbox()
        runner = sandbox_runner(SandboxSettings(writable=(str(channel),)), workspace)
    command = render_command(
        variant.agent_command, instruction=task.instruction, workspace=workspace, model=model
    )
    env = {
        **variant.agent_env,
        "OPENAI_MODEL": model_names(model)[0],
        "CLAW_LAB_MODEL_SOCKET": str(channel / "proxy.sock"),
        "CLAW_LAB_AGENT_COMMAND": command,
    }
    line = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    line += f" {shlex.quote(sys.executable)} {shlex.quote(str(launcher))}"
    proxy = RecordingProxy(
        spec.api_base,
        api_key=spec.api_key,
        socket_path=channel / "proxy.sock",
        on_call=on_call,
        timeout=task.agent_timeout_sec,
    )

    def on_stop() -> None:
        proxy.close_gate()
        # the channel is writable inside the sandbox: never follow a link the agent put there
        with contextlib.suppress(OSError):
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            os.close(os.open(channel / "stop", flags, 0o600))

    with proxy:
        unregister = stop.on_stop(on_stop)
        try:
            result = runner.run(line, workspace, task.agent_timeout_sec)
        finally:
            unregister()
    calls, prompt, completion = proxy.totals()
    stop_reason, error = _ending(result, task.agent_timeout_sec, stop)
    return ExternalRun(stop_reason, error, calls, prompt, completion, result.exit_code)


def _ending(result: Any, timeout: float, stop: StopToken) -> tuple[str, str | None]:
    if stop.stopped:
        return StopReason.INTERRUPTED, "the trial was stopped"
    if result.timed_out:
        return StopReason.TIMEOUT, f"agent stopped at the task's timeout ({timeout:g} s)"
    if result.exit_code == 0:
        return StopReason.COMPLETED, None
    tail = (result.stderr or result.stdout or "").strip()[-STDERR_TAIL:]
    why = result.killed_reason or f"exit code {result.exit_code}"
    return StopReason.ERROR, f"agent failed ({why})" + (f": {tail}" if tail else "")
