"""A demonstration world for the optimizers: small tasks, a scripted agent whose success depends
on habits its system prompt teaches, and a scripted reflection model that proposes them.

It runs on the scripted OpenAI-compatible server (this package's `server`), so the notebook and the
tests exercise the real lab runner, DuckDB log, gepa loop and guards without a model. The
scripted agent only solves a task when its prompt holds the right habit, so a prompt search has
something real to find, and a wrong or malformed proposal really fails.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Sequence
from typing import Any

from claw_nb.lab.optimize.guards import FENCE
from claw_nb.testing.replies import call, text, tool_calls

HABIT_WRITE = "- When a task names a file for the result, write the result into that file."
HABIT_FORMAT = "- Follow the task's formatting words (capitals, reversed) exactly."
WORDS = (
    "amber",
    "birch",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "grove",
    "heron",
    "inlet",
    "jasper",
    "kelp",
    "lotus",
    "maple",
    "nectar",
    "orchid",
    "pebble",
    "quartz",
    "raven",
)
_TASK = re.compile(r"word (\w+)(, (in capitals|reversed),)? in a file named ([\w-]+\.\w+)", re.I)
_VERIFY = """#!/usr/bin/env bash
got=$(tr -d '[:space:]' < "$WORKSPACE/{file}" 2>/dev/null)
if [ "$got" = "{expected}" ]; then echo 1 > "$REWARD_DIR/reward.txt"
else echo "expected {expected} in {file}, found '$got'"; echo 0 > "$REWARD_DIR/reward.txt"; fi
"""


def demo_task_specs(n: int = 9) -> list[dict[str, Any]]:
    """Inline lab tasks: easy and medium ones need HABIT_WRITE, hard ones also HABIT_FORMAT."""
    specs = []
    for i, word in enumerate(WORDS[:n]):
        level = ("easy", "medium", "hard")[i % 3]
        style = {"hard": ", in capitals," if i % 2 else ", reversed,"}.get(level, "")
        expected = word.upper() if "capitals" in style else word[::-1] if style else word
        file = f"out_{word}.txt"
        specs.append(
            {
                "name": f"demo-{word}",
                "difficulty": level,
                "instruction": f"Put the word {word}{style} in a file named {file}.",
                "test": _VERIFY.format(file=file, expected=expected),
                "solution": f"echo {expected} > {file}\n",
            }
        )
    return specs


def demo_tasks(n: int = 9) -> list[Any]:
    from claw_nb.lab.tasks import load_tasks

    return load_tasks(demo_task_specs(n))


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def scripted_agent(request: dict[str, Any]) -> Any:
    """One reply of the scripted agent, decided from the request the agent sent: it writes the
    file only when its system prompt or a tool description teaches HABIT_WRITE."""
    messages = request.get("messages", [])
    if messages and messages[-1].get("role") == "tool":
        return text("Done.")
    system = _text_of(messages[0]) if messages else ""
    # What the agent was taught: its system prompt and the descriptions of its tools.
    system += "\n".join(
        t.get("function", {}).get("description", "") for t in request.get("tools") or []
    )
    instruction = next((_text_of(m) for m in messages if m.get("role") == "user"), "")
    match = _TASK.search(instruction)
    if not match or HABIT_WRITE.lower() not in system.lower():
        return text("The answer is in the instruction; nothing to do.")
    word, style, file = match.group(1), match.group(3), match.group(4)
    if style and HABIT_FORMAT.lower() in system.lower():
        word = word.upper() if style == "in capitals" else word[::-1]
    return tool_calls(call("write_file", {"path": file, "content": word + "\n"}))


def looking_agent(request: dict[str, Any]) -> Any:
    """The scripted agent with a first look around: step 1 reads ``notes.txt``, then it acts as
    `scripted_agent` decides (writing the file only when taught HABIT_WRITE) and then answers.
    Its failures happen at step 2, so a fork at step 2 replays a read and takes over from there."""
    messages = request.get("messages", [])
    calls = [c for m in messages if m.get("role") == "assistant" for c in m.get("tool_calls") or []]
    names = [(c.get("function") or {}).get("name") for c in calls]
    if "write_file" in names:
        return text("Done.")
    if "read_file" not in names:
        return tool_calls(call("read_file", {"path": "notes.txt"}))
    return scripted_agent({**request, "messages": [m for m in messages if m.get("role") != "tool"]})


def _current_text(prompt: str) -> str:
    lines = prompt.splitlines()
    fences = [i for i, line in enumerate(lines) if FENCE.match(line)]
    return "\n".join(lines[fences[0] + 1 : fences[1]]) + "\n"


def _add_habit(text: str, habit: str) -> str:
    if "$memory" in text:
        head, _, tail = text.rpartition("$memory")
        return f"{head.rstrip()}\n{habit}\n$memory{tail}"
    return text.rstrip() + "\n" + habit + "\n"


def scripted_reflection(plan: Sequence[str]) -> Callable[[dict[str, Any]], Any]:
    """A reflection model that follows `plan`, one entry per call:

    "think" (a reply cut inside a <think> block), "no-placeholder" (drops $memory),
    "truncated" (no closing fence), "copy" (pastes a training task's instruction),
    "noop" (a harmless but useless habit), "write" / "format" (add the habit that helps),
    "bloat" (the helpful habit buried in a long paragraph: for prompt budgets),
    "die" (SIGKILL this process, to test resuming a killed run).
    """
    remaining = list(plan)

    def reply(request: dict[str, Any]) -> Any:
        if request.get("tools"):
            return scripted_agent(request)  # the same server may serve the agent too
        prompt = _text_of(request["messages"][-1])
        current = _current_text(prompt)
        kind = remaining.pop(0) if remaining else "noop"
        if kind == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if kind == "think":
            return text("<think>The failures suggest the agent never writes files, so")
        if kind == "no-placeholder":
            return text("```\n" + _add_habit(current, HABIT_WRITE).replace("$memory", "") + "```")
        if kind == "truncated":
            return text("```\n" + _add_habit(current, HABIT_WRITE)[:400])
        if kind == "copy":
            task = re.search(r"### Task\n(.+)", prompt)
            copied = task.group(1) if task else "Put the word amber in a file named out.txt."
            return text("```\n" + _add_habit(current, f"- Example: {copied}") + "```")
        if kind == "bloat":
            filler = " ".join(["Think about the task carefully before acting."] * 12)
            return text("```\n" + _add_habit(current, f"{HABIT_WRITE}\n- {filler}") + "```")
        habit = {"write": HABIT_WRITE, "format": HABIT_FORMAT}.get(
            kind, "- Keep your answers short."
        )
        return text(
            "<think>Reflecting on the failures.</think>\nImproved text:\n```\n"
            + _add_habit(current, habit)
            + "```\n"
        )

    return reply
