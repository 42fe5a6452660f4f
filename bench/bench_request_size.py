"""Base request size (system prompt + tool schemas) per tool set, in characters and tokens.

Run by hand: `python bench/bench_request_size.py [--prompt default --prompt full --prompt OLD.md]`.
Tokens are counted with SmolLM2's own tokenizer (llama-cpp-python, vocab only) when the
embedded model is installed, and with claw_nb's TokenCounter (what context management uses).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from claw_nb.context.tokens import TokenCounter
from claw_nb.model import embedded
from claw_nb.prompts import render_system_prompt
from claw_nb.tools import default_tools
from claw_nb.tools.notebook import bind_notebook_tools
from claw_nb.tools.notebook.kernel_exec import bind_kernel_exec


def tool_sets() -> dict[str, list]:
    cli = list(default_tools())
    notebook = [*bind_notebook_tools(None), bind_kernel_exec(None)]
    return {
        "cli (7 tools)": cli,
        f"cli + notebook ({len(cli) + len(notebook)} tools)": cli + notebook,
    }


def smollm_tokenizer():
    model = embedded.bundled_model()
    if model is None or not embedded.llama_cpp_available():
        return None
    from llama_cpp import Llama

    llm = Llama(model_path=str(model.path), vocab_only=True, verbose=False)
    return lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--prompt", action="append", help="template name or .md path (default: default and full)"
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="also start the embedded server and report its own prompt count "
        "for each base request, the counter's error, and tokens/s",
    )
    args = parser.parse_args()
    prompts = args.prompt or ["default", "full"]
    smol = smollm_tokenizer()
    counter = TokenCounter("openai/bench")
    workspace = Path.cwd()
    served: list = []
    print(
        f"{'prompt':<12} {'tool set':<28} {'sys chars':>9} {'schema chars':>12} "
        f"{'total chars':>11} {'smollm tok':>10} {'counter tok':>11}"
    )
    for name in prompts:
        for label, tools in tool_sets().items():
            from claw_nb.tools import ToolRegistry

            registry = ToolRegistry(tools)
            system = render_system_prompt(workspace, registry, name).text
            specs = registry.specs()
            schema = json.dumps(specs)
            messages = [{"role": "system", "content": system}]
            smol_tokens = smol(system) + smol(schema) if smol else "-"
            ours = counter.request(messages, specs)
            print(
                f"{Path(name).stem:<12} {label:<28} {len(system):>9,} {len(schema):>12,} "
                f"{len(system) + len(schema):>11,} {smol_tokens:>10} {ours:>11,}"
            )
            if args.serve:
                served.append((Path(name).stem, label, messages, specs, ours))
    if args.serve:
        serve_figures(served)


def serve_figures(served: list) -> None:
    """The server's own prompt counts (what the model really reads), and generation speed."""
    import time
    import urllib.request

    server = embedded.ensure_server(embedded.bundled_model(), progress=print)

    def ask(body: dict) -> dict:
        request = urllib.request.Request(
            f"{server.api_base}/chat/completions",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())

    print(f"\n{'prompt':<12} {'tool set':<28} {'server tok':>10} {'counter':>8} {'error':>7}")
    for name, label, messages, specs, ours in served:
        user = [*messages, {"role": "user", "content": "hi"}]
        reply = ask({"messages": user, "tools": specs, "tool_choice": "auto", "max_tokens": 1})
        theirs = reply["usage"]["prompt_tokens"]
        ours = TokenCounter("openai/bench").request(user, specs)
        print(f"{name:<12} {label:<28} {theirs:>10,} {ours:>8,} {(ours - theirs) / theirs:>+7.0%}")
    started = time.perf_counter()
    reply = ask(
        {
            "messages": [{"role": "user", "content": "Write a long story about a cat."}],
            "max_tokens": 200,
            "temperature": 0,
        }
    )
    seconds = time.perf_counter() - started
    usage = reply["usage"]
    print(
        f"\ngeneration: {usage['completion_tokens']} tokens in {seconds:.1f} s "
        f"({usage['completion_tokens'] / seconds:.0f} tok/s incl. a {usage['prompt_tokens']}"
        "-token prompt)"
    )


if __name__ == "__main__":
    main()
