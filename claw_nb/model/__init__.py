"""The model layer: one chat completion, with retries, time bounds and visible text.

Two paths behind one interface (`claw_nb.protocols.Model`): `LiteLLMModel` for every provider
LiteLLM reaches, `OpenAICompatModel` (plain HTTP) for OpenAI-compatible servers; `make_model` picks
one (`claw_nb.model.backend`). Neither imports LiteLLM before its first call.
"""

from claw_nb.errors import (
    ContextLengthExceeded,
    ModelAuthError,
    ModelError,
    ModelInterrupted,
    ModelTimeout,
    ModelUnreachable,
)
from claw_nb.model.backend import choose_backend, make_model
from claw_nb.model.litellm_model import LiteLLMModel
from claw_nb.model.openai_compat import OpenAICompatModel
from claw_nb.model.reply import ModelReply

__all__ = [
    "ContextLengthExceeded",
    "LiteLLMModel",
    "ModelAuthError",
    "ModelError",
    "ModelInterrupted",
    "ModelReply",
    "ModelTimeout",
    "ModelUnreachable",
    "OpenAICompatModel",
    "choose_backend",
    "make_model",
]
