"""The model layer: one chat completion through LiteLLM, with retries and visible text."""

from claw_nb.errors import (
    ContextLengthExceeded,
    ModelAuthError,
    ModelError,
    ModelInterrupted,
    ModelTimeout,
    ModelUnreachable,
)
from claw_nb.model.litellm_model import LiteLLMModel, ModelReply

__all__ = [
    "ContextLengthExceeded",
    "LiteLLMModel",
    "ModelAuthError",
    "ModelError",
    "ModelInterrupted",
    "ModelReply",
    "ModelTimeout",
    "ModelUnreachable",
]
