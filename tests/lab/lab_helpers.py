"""Small inline tasks and a scripted model that solves them only under the 'solver' prompt."""

from __future__ import annotations

from claw_nb.testing import call, text, tool_calls

SOLVER_PROMPT = "You are SOLVER. Tools:\n$tools\nWork in $workspace.\n"

# Each verifier writes 1 when the file holds the wanted text; 'partial' gives half credit.
TASKS = [
    {
        "name": "write-hello",
        "instruction": "Write hello into greeting.txt",
        "difficulty": "easy",
        "files": {"README.md": "empty project\n"},
        "test": (
            "if grep -qx hello greeting.txt 2>/dev/null; then echo 1; else echo 0; fi "
            '> "$REWARD_DIR/reward.txt"\n'
        ),
        "solution": "echo hello > greeting.txt\n",
    },
    {
        "name": "fix-number",
        "instruction": "Change the number in number.txt to 42",
        "difficulty": "medium",
        "files": {"number.txt": "41\n"},
        "test": (
            'if grep -qx 42 number.txt; then echo 1; else echo 0; fi > "$REWARD_DIR/reward.txt"\n'
        ),
        "solution": "echo 42 > number.txt\n",
    },
    {
        "name": "two-files",
        "instruction": "Create a.txt and b.txt, each holding ok",
        "difficulty": "hard",
        "files": {},
        "test": (
            "n=0; for f in a.txt b.txt; do grep -qx ok $f 2>/dev/null && n=$((n+1)); done\n"
            '"$PYTHON" -c "print($n / 2)" > "$REWARD_DIR/reward.txt"\n'
        ),
        "solution": "echo ok > a.txt; echo ok > b.txt\n",
    },
]

SOLUTIONS = {
    "Write hello into greeting.txt": [
        call("write_file", {"path": "greeting.txt", "content": "hello\n"})
    ],
    "Change the number in number.txt to 42": [
        call("run_command", {"command": "echo 42 > number.txt"})
    ],
    "Create a.txt and b.txt, each holding ok": [
        call("write_file", {"path": "a.txt", "content": "ok\n"}),
        call("write_file", {"path": "b.txt", "content": "ok\n"}),
    ],
}


def task_of(request: dict) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def solver_reply(request: dict):
    """SOLVER prompt: make the task's tool calls, then answer; any other prompt: give up."""
    messages = request["messages"]
    if messages[-1]["role"] == "tool":
        return text("done")
    if "SOLVER" in (messages[0].get("content") or ""):
        return tool_calls(*SOLUTIONS[task_of(request)])
    return text("I cannot do that.")
