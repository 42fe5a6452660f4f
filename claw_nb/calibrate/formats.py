"""The ways a request can carry tools, as settings: what calibration compares and a profile keeps."""

from __future__ import annotations

from typing import Any

from claw_nb.records import record


@record(frozen=True)
class CallFormat:
    """One way to offer tools: native (`tools` on the wire, `tool_choice`) or in the prompt."""

    name: str
    tools_in_prompt: bool
    tool_choice: str | None  # sent with native tools; None for tools in the prompt
    dialect: str = "hermes"  # how calls are written in the prompt (tools_in_prompt only)

    def settings(self) -> dict[str, Any]:
        """The ClawConfig values that make a session use this format."""
        values: dict[str, Any] = {"tools_in_prompt": self.tools_in_prompt}
        if self.tools_in_prompt:
            values["tool_prompt_dialect"] = self.dialect
        else:
            values["tool_choice"] = self.tool_choice
        return values


# In order of preference when the measurements tie: native first (no prompt rewriting).
FORMATS = (
    CallFormat("native_auto", False, "auto"),
    CallFormat("native_required", False, "required"),
    CallFormat("prompt_hermes", True, None, "hermes"),
    CallFormat("prompt_qwen_xml", True, None, "qwen_xml"),
)
FORMAT_NAMES = tuple(f.name for f in FORMATS)


def format_named(name: str) -> CallFormat | None:
    return next((f for f in FORMATS if f.name == name), None)
