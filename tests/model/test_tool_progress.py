"""Progress of a tool call while the model streams it: both model paths against the real
scripted server (which streams arguments 6 characters a chunk), the throttle, the in-memory
scripted model."""

from __future__ import annotations

import json
import time

import pytest

from claw_nb.model import make_model
from claw_nb.model.tool_progress import REPORT_INTERVAL, ToolProgressTracker, size_bucket
from claw_nb.testing import ScriptedModel, call, text, tool_calls
from tests.helpers import scripted_config

WRITE_FILE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Write a file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
}
MESSAGES = [{"role": "user", "content": "write big.txt"}]
BIG = "all work and no play\n" * 2400  # ~50 kB: ~8,400 argument chunks from the server


def model_for(server, workspace, backend, stream=True):
    config = scripted_config(
        server,
        workspace,
        stream=stream,
        model_backend=backend,
        reply_token_cap=20_000,  # BIG is ~12,500 tokens: above the default cap (the reserve)
    )
    return make_model(config)


class Seen(list):
    """An `on_tool_progress` callback that keeps (index, name, chars) and when it came."""

    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()

    def __call__(self, index: int, name: str, chars: int) -> None:
        self.append((index, name, chars))

    @property
    def sizes(self) -> list[int]:
        return [chars for _, _, chars in self]

    def bound(self, chars: int) -> int:
        """At most: the first sight, one per size bucket, one per interval elapsed."""
        elapsed = time.monotonic() - self.started
        return 1 + size_bucket(chars) + int(elapsed / REPORT_INTERVAL) + 1


@pytest.fixture(params=["direct", "litellm"])
def backend(request):
    return request.param


def test_a_streamed_native_call_reports_growing_sizes_throttled(
    scripted_server, workspace, backend
):
    arguments = {"path": "big.txt", "content": BIG}
    scripted_server.queue(tool_calls(call("write_file", arguments)))
    model = model_for(scripted_server, workspace, backend)
    seen = Seen()
    reply = model.complete(MESSAGES, [WRITE_FILE], on_tool_progress=seen)
    total = len(reply.tool_calls[0].raw_arguments)
    assert total == len(json.dumps(arguments)) > 50_000
    assert seen[0] == (0, "write_file", 0)  # the first sight of the call, before any argument
    assert {(index, name) for index, name, _ in seen} == {(0, "write_file")}
    assert seen.sizes == sorted(seen.sizes) and seen.sizes[-1] >= 32 * 1024
    assert len(seen) <= seen.bound(total)  # not one report per chunk (~8,400 chunks)
    assert len(seen) < 100


def test_a_call_written_as_text_reports_its_name_and_size(scripted_server, workspace, backend):
    call_text = json.dumps({"name": "write_file", "arguments": {"path": "a.txt", "content": BIG}})
    scripted_server.queue(text("I will write it.\n<tool_call>" + call_text + "</tool_call>"))
    model = model_for(scripted_server, workspace, backend)
    seen, shown = Seen(), []
    reply = model.complete(MESSAGES, [WRITE_FILE], on_text=shown.append, on_tool_progress=seen)
    assert reply.tool_calls[0].name == "write_file"
    assert "".join(shown) == "I will write it.\n"  # the markup stays hidden
    assert seen[0][1] == "" and seen[0][2] < 20  # seen before its name has arrived
    named = [chars for _, name, chars in seen if name == "write_file"]
    assert named and named == sorted(named) and named[-1] >= 32 * 1024
    assert {name for _, name, _ in seen} <= {"", "write_file"}
    assert len(seen) <= seen.bound(len(call_text)) + 1  # + the report when the name appeared


def test_a_whole_reply_reports_no_progress(scripted_server, workspace):
    scripted_server.queue(tool_calls(call("write_file", {"path": "a", "content": "x" * 5000})))
    model = model_for(scripted_server, workspace, "direct", stream=False)
    seen = Seen()
    reply = model.complete(MESSAGES, [WRITE_FILE], on_tool_progress=seen)
    assert reply.tool_calls and seen == []


def test_a_stream_without_tool_calls_reports_none(scripted_server, workspace):
    scripted_server.queue(text("no tools here, " * 200))
    seen = Seen()
    model_for(scripted_server, workspace, "direct").complete(
        MESSAGES, [WRITE_FILE], on_tool_progress=seen
    )
    assert seen == []


def test_several_calls_are_each_reported_by_their_position(scripted_server, workspace):
    scripted_server.queue(
        tool_calls(
            call("write_file", {"path": "a", "content": "a" * 3000}),
            call("read_file", {"path": "b"}),
        )
    )
    seen = Seen()
    model_for(scripted_server, workspace, "direct").complete(
        MESSAGES, [WRITE_FILE], on_tool_progress=seen
    )
    assert (0, "write_file", 0) in seen and (1, "read_file", 0) in seen
    assert seen.index((1, "read_file", 0)) > max(i for i, s in enumerate(seen) if s[0] == 0)


# -- the throttle, on a clock the test moves --------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_tracker_reports_a_new_call_at_once_then_by_time_or_size_bucket():
    clock, seen = Clock(), Seen()
    tracker = ToolProgressTracker(seen, clock=clock, interval=0.25)
    tracker.update(0, "write_file", 0)
    tracker.update(0, "write_file", 500)  # same call, same bucket, no time passed
    clock.now += 0.1
    tracker.update(0, "write_file", 1100)  # crossed 1 kB
    tracker.update(0, "write_file", 1900)
    clock.now += 0.3
    tracker.update(0, "write_file", 1950)  # an interval passed
    tracker.update(1, "read_file", 0)  # another call
    assert seen == [(0, "write_file", 0), (0, "write_file", 1100), (0, "write_file", 1950)] + [
        (1, "read_file", 0)
    ]


def test_the_name_of_a_call_written_as_qwen_xml_is_found():
    seen = Seen()
    tracker = ToolProgressTracker(seen, clock=Clock())
    for piece in ("<tool_call>\n<func", "tion=write_file>\n<parameter=path>a", ".txt</parameter>"):
        tracker.hidden_text(piece)
    assert seen[0] == (0, "", len("<tool_call>\n<func"))
    assert seen[-1][1] == "write_file"


def test_the_scripted_model_reports_progress_as_the_server_would_stream_it():
    model = ScriptedModel([tool_calls(call("write_file", {"path": "a", "content": "z" * 9000}))])
    seen = Seen()
    model.complete(MESSAGES, [WRITE_FILE], on_tool_progress=seen)
    assert seen[0] == (0, "write_file", 0)
    assert seen.sizes == sorted(seen.sizes) and seen.sizes[-1] >= 8 * 1024
    assert len(seen) <= 1 + size_bucket(9000) + 1
