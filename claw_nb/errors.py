"""Every error a user of claw_nb can hit, each with a message that says what to do.

All derive from `ClawError`, so a script can catch one type. Model errors carry a `kind` that the
agent loop reports as the run's stop reason. Library code raises these; only the shells (CLI,
magics) turn them into one-line messages, with their own hints from `fixes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Fix = Literal["model", "api_base", "api_key"]
"""A setting the user can change to fix an error. The error carries it as data and each shell
says how that setting is changed there (a flag or an environment variable in the terminal,
`%claw config` in a notebook), so no message names one shell's way."""


def say_fixes(fixes: Iterable[str], ways: dict[str, str]) -> str:
    """'; how to set it' for each setting in `fixes`, worded by the shell's `ways`."""
    return "".join(f"; {ways[fix]}" for fix in dict.fromkeys(fixes) if fix in ways)


class ClawError(Exception):
    """Base class of every error claw_nb raises on purpose; `fixes` names the settings that
    would fix it (`Fix`), for the shell to turn into its own hint."""

    fixes: tuple[Fix, ...] = ()

    def __init__(self, *args: object, fixes: Iterable[Fix] = ()) -> None:
        super().__init__(*args)
        if fixes:
            self.fixes = tuple(fixes)


class ConfigError(ClawError, ValueError):
    """A setting has a bad value; the message names the setting and what is allowed."""


class SandboxSettingsError(ConfigError):
    """A `[sandbox]` setting is malformed."""


class PermissionSettingsError(ConfigError):
    """A `[permissions]` rule is malformed."""


class SubagentSettingsError(ConfigError):
    """A `[subagents]` setting is malformed."""


class SessionNotFound(ClawError, LookupError):
    """No logged session matches an id (prefix), or the prefix is ambiguous."""


class ModelError(ClawError):
    """A model call failed in a way retrying will not fix."""

    kind = "model_error"
    # How many requests the failed call made (retries and a stream-to-whole fallback included),
    # and whether the last one streamed: the failed call's log row says so.
    attempts: int = 1
    streamed: bool | None = None


class ModelUnreachable(ModelError):
    kind = "model_unreachable"


class ContextLengthExceeded(ModelError):
    kind = "context_length_exceeded"


class ModelAuthError(ModelError):
    kind = "auth"


class ModelTimeout(ModelError):
    """A reply took longer than its total budget, or its stream went silent for too long."""

    kind = "model_timeout"


class ReplyTooLong(ModelError):
    """A streamed reply passed the client-side cap (`reply_token_cap`): the model was looping,
    or its reply was longer than the run allows. The stream is closed; the run stops."""

    kind = "reply_too_long"


class ModelInterrupted(ModelError):
    """The user stopped the run while the model was answering."""

    kind = "interrupted"


class ModelStuck(ModelError):
    """The model made the same call with the same result again after it was told
    (`claw_nb.loop_guard`); the message says what to do."""

    kind = "stuck"


class HookStopped(ClawError):
    """A hook ended the run (a UserPromptSubmit that blocked, or `"continue": false`); the
    message is the hook's reason, for the user (`claw_nb.hooks`, docs/hooks.md)."""


class HookSettingsError(ConfigError):
    """A `[[hooks.EVENT]]` entry or the `hooks` of `.claude/settings.json` is malformed."""


class LabError(ClawError):
    """The prompt lab cannot do what it was asked (claw_nb.lab); the message says why."""


class TaskError(LabError, ValueError):
    """A task definition is unreadable or incomplete (claw_nb.lab.tasks)."""


class SandboxRequired(LabError):
    """The lab runs trials in bubblewrap; without it, pass unsandboxed=True / --unsandboxed."""


class EmbeddedModelError(ModelError):
    """The embedded llama.cpp server cannot start (package, GGUF file or the server itself)."""

    kind = "embedded_model_error"
