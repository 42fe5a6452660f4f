"""The reflection call: show a model how the agent fared with a text, ask for a better text.

The reflection model is any LiteLLM model; a stronger cloud model reflecting on a small local
task model is a supported setup. What it is shown comes from the DuckDB log of each trial
(see `claw_nb.lab.optimize.evidence`), never from re-parsing the agent's printed output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMPONENT_PURPOSE = {
    "system_prompt": "the system prompt of a coding agent (a template: $name placeholders are "
    "filled in when the agent starts)",
}

PROMPT_TEMPLATE = """\
You are improving one text that steers a coding agent: {purpose}.

The current text:
```
{current}
```

Below, tasks the agent attempted with this text: the reward each earned (0 to 1), what the
task's verifier reported, the tool calls that failed and why, and the agent's final answer.

{evidence}

Write an improved version of the text that would help the agent on tasks like these in
general. Rules:
- {placeholder_rule}
- Teach general working habits. Do not mention these particular tasks, their file names,
  their data or their answers: the text will be judged on tasks it has never seen.
- Keep it under {max_chars} characters.

Reply with the complete new text inside one ``` fenced block and nothing after the closing
fence.
"""


def purpose_of(component: str) -> str:
    if component.startswith("tool:"):
        return f"the description of the agent's `{component[5:]}` tool, shown to the model"
    return COMPONENT_PURPOSE.get(component, component)


def format_evidence(records: Sequence[Mapping[str, Any]], max_chars: int = 12_000) -> str:
    """The reflective records as Markdown, failures first, cut to a budget of characters."""
    ordered = sorted(records, key=lambda r: r.get("reward", 0.0))
    parts = []
    for i, record in enumerate(ordered, 1):
        lines = [f"## Example {i}: reward {record.get('reward', 0.0):.2f}"]
        for key, value in record.items():
            if key == "reward" or value in (None, "", []):
                continue
            if not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False, indent=1, default=str)
            lines.append(f"### {key.replace('_', ' ').capitalize()}\n{value.strip()[:2_000]}")
        parts.append("\n".join(lines))
    text = "\n\n".join(parts)
    return text if len(text) <= max_chars else text[:max_chars] + "\n[... more examples cut]"


def reflection_prompt(
    component: str,
    current: str,
    records: Sequence[Mapping[str, Any]],
    required_placeholders: Sequence[str],
    max_chars: int,
) -> str:
    names = ", ".join(f"${n}" for n in sorted(required_placeholders))
    rule = (
        f"Keep every placeholder exactly as written, each once: {names}."
        if names
        else "Do not add any $name placeholder (write $$ for a literal $)."
    )
    return PROMPT_TEMPLATE.format(
        purpose=purpose_of(component),
        current=current.strip(),
        evidence=format_evidence(records),
        placeholder_rule=rule,
        max_chars=max_chars,
    )


@dataclass(frozen=True)
class ReflectionReply:
    text: str
    truncated: bool
    tokens: int


@dataclass(frozen=True)
class ReflectionModel:
    """A LiteLLM model used only to propose texts (no tools, no streaming)."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    temperature: float | None = None
    request_timeout: float = 600.0

    def ask(self, prompt: str) -> ReflectionReply:
        from claw_nb.config import ClawConfig
        from claw_nb.model.litellm_model import LiteLLMModel

        config = ClawConfig(
            model=self.model,
            api_base=self.api_base,
            api_key=self.api_key,
            workspace=Path.cwd(),
            stream=False,
            temperature=self.temperature,
            request_timeout=self.request_timeout,
        )
        reply = LiteLLMModel(config).complete([{"role": "user", "content": prompt}], [])
        return ReflectionReply(
            text=reply.content or "",
            truncated=reply.finish_reason == "length",
            tokens=int(reply.prompt_tokens or 0) + int(reply.completion_tokens or 0),
        )
