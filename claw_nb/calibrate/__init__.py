"""A profile per model: which call format a model/server pair handles best, measured and kept.

`claw-nb calibrate` (`run.calibrate`) sends a few probe tasks (`probes`) in every call format
(`formats`: native tools with `tool_choice` auto or required, tools in the prompt in each text
dialect), counts the replies that hold a valid call, and writes the winner to a profile in the
user's config folder (`profile`). Later sessions with that model and server use it for the
settings the user did not give (`profile.apply_profile`, called where the model is resolved).
"""

from __future__ import annotations

from claw_nb.calibrate.formats import FORMATS, CallFormat, format_named
from claw_nb.calibrate.profile import (
    FormatResult,
    ModelProfile,
    ProfileStore,
    apply_profile,
    profile_key,
)

__all__ = [
    "FORMATS",
    "CallFormat",
    "FormatResult",
    "ModelProfile",
    "ProfileStore",
    "apply_profile",
    "format_named",
    "profile_key",
]
