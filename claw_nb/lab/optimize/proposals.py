"""Asking the reflection model for a better text: the evidence it is shown, the prompt, the call.

What reflection sees about a trial is read from the DuckDB log (never from the agent's printed
output): the task's instruction, its reward, the verifier's output, how the run stopped, the
tool calls that failed and why, and the agent's final answer. The reflection model is any
LiteLLM model; a stronger cloud model reflecting on a small local task model is a supported
setup. Its reply passes the guards (`guards`) before a trial runs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from claw_nb.lab.store import trial_evidence_rows
from claw_nb.records import record
from claw_nb.textclip import clip_middle

MAX_FAILED_CALLS = 8
MAX_FIELD_CHARS = 1_500


def _clip(text: Any, limit: int = MAX_FIELD_CHARS) -> str:
    return clip_middle("" if text is None else str(text), limit)


def _describe_call(tool: str, arguments: Any, kind: Any, error: Any) -> str:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, default=str)
    reason = f"{kind}: {error}" if kind else str(error or "failed")
    return f"{tool}({_clip(args, 200)}) -> {_clip(reason, 300)}"


def trial_evidence(
    db_path: Path, experiment: str, variant: str, tasks: Sequence[Any]
) -> dict[str, dict[str, Any]]:
    """task name -> the reflective record of its first logged trial for this variant."""
    names = [t.name for t in tasks]
    instructions = {t.name: t.instruction for t in tasks}
    if not names:
        return {}
    trials, calls = trial_evidence_rows(Path(db_path), experiment, variant, names)
    failed = {sid: [_describe_call(*call) for call in rows] for sid, rows in calls.items()}
    records: dict[str, dict[str, Any]] = {}
    for task, reward, verifier, stop_reason, error, session_id, answer, tamper in trials:
        if task in records:
            continue
        calls = failed.get(session_id, [])
        findings = json.loads(tamper) if tamper else []
        records[task] = {
            "task": _clip(instructions.get(task, task)),
            # a flagged trial is shown as failed, with why: never a reward to imitate
            "reward": 0.0 if findings else float(reward or 0.0),
            "tamper": findings,
            "verifier_output": _clip(verifier),
            "stop_reason": stop_reason or "",
            "error": _clip(error) if error else "",
            "failed_tool_calls": calls[:MAX_FAILED_CALLS]
            + (
                [f"... and {len(calls) - MAX_FAILED_CALLS} more"]
                if len(calls) > MAX_FAILED_CALLS
                else []
            ),
            "final_answer": _clip(answer),
        }
    return records


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
- Keep it under {max_chars} characters.{budget_rule}

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
    for i, example in enumerate(ordered, 1):
        lines = [f"## Example {i}: reward {example.get('reward', 0.0):.2f}"]
        for key, value in example.items():
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
    budget_rule: str = "",
) -> str:
    """The reflection model's prompt; `budget_rule`: a sentence on the token budget, if any."""
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
        budget_rule=f"\n- {budget_rule}" if budget_rule else "",
    )


@record(frozen=True)
class ReflectionReply:
    text: str
    truncated: bool
    tokens: int


@record(frozen=True)
class ReflectionModel:
    """A LiteLLM model used only to propose texts (no tools, no streaming)."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    temperature: float | None = None
    request_timeout: float = 600.0

    def ask(self, prompt: str, should_stop: Callable[[], bool] | None = None) -> ReflectionReply:
        """The model's reply to `prompt`; `should_stop` (a stop token) can cut it short."""
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
        reply = LiteLLMModel(config).complete(
            [{"role": "user", "content": prompt}], [], should_stop=should_stop
        )
        return ReflectionReply(
            text=reply.content or "",
            truncated=reply.finish_reason == "length",
            tokens=int(reply.prompt_tokens or 0) + int(reply.completion_tokens or 0),
        )
