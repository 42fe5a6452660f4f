"""An endless model stream is cut by the reply's token cap in seconds, not after reply_timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

import claw_nb
from claw_nb import events as ev
from claw_nb.cli import main
from claw_nb.config import load_config
from claw_nb.errors import ConfigError, ReplyTooLong
from claw_nb.model.reply_cap import ReplyCap, cap_tokens, tool_call_text
from claw_nb.testing import endless_stream, text
from tests.helpers import Recorder

BACKENDS = ["litellm", "direct"]
GENEROUS = 120.0  # seconds: a regression fails instead of hanging; no timing assertion
NEVER = 86_400.0  # reply_timeout and stream_idle_timeout far away: only the cap can end it
ROOT = Path(__file__).resolve().parents[2]


def _options(server, backend: str) -> dict:
    return {
        "model": "openai/scripted",
        "api_base": server.url,
        "api_key": "sk-test",
        "stream": True,
        "model_backend": backend,
        "reply_timeout": NEVER,
        "stream_idle_timeout": NEVER,
        "reply_token_cap": 200,
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_endless_stream_ends_the_run_and_closes_the_connection(
    scripted_server, workspace, backend, time_limit
):
    scripted_server.queue(endless_stream())
    recorder = Recorder()
    with time_limit(GENEROUS):
        with claw_nb.create_agent(
            workspace,
            log=False,
            mode="auto",
            listeners=[recorder],
            **_options(scripted_server, backend),
        ) as agent:
            result = agent.run("say something")
        assert scripted_server.client_closed_stream.wait(GENEROUS)
    assert result.stop_reason == "reply_too_long" and "reply_token_cap" in result.error
    (failed,) = recorder.of(ev.ModelCallFinished)
    assert failed.error.startswith("reply_too_long")
    (shown,) = [e for e in recorder.of(ev.ErrorOccurred) if e.kind == "reply_too_long"]
    assert "cut after" in shown.message


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reply_within_the_cap_is_untouched(scripted_server, workspace, backend):
    scripted_server.queue(text("word " * 150))  # ~190 tokens by estimate, chunks of 8 chars
    with claw_nb.create_agent(
        workspace, log=False, mode="auto", **_options(scripted_server, backend)
    ) as agent:
        result = agent.run("say something")
    assert result.ok and result.final_answer == ("word " * 150).strip()


def test_cli_run_with_an_endless_stream_exits_with_the_reason(claw_env, capsys, time_limit):
    claw_env.server.queue(endless_stream())
    argv = ["run", "--cwd", str(claw_env.workspace), "--stream", "--mode", "auto", "loop"]
    with time_limit(GENEROUS):
        code = main(argv)
        assert claw_env.server.client_closed_stream.wait(GENEROUS)
    assert code != 0
    assert "reply_too_long" in capsys.readouterr().err


def test_one_character_chunks_count_as_tokens():
    cap = ReplyCap(100)
    with pytest.raises(ReplyTooLong, match="cut after"):
        for _ in range(cap.limit + 1):
            cap.add("a")
    assert cap.chunks == cap.limit + 1


def test_long_chunks_count_by_characters():
    cap = ReplyCap(100)
    cap.add("x" * (cap.limit * 4 - 4))
    with pytest.raises(ReplyTooLong):
        cap.add("x" * 8)


def test_the_cap_defaults_to_max_tokens_then_the_reserve(tmp_path):
    assert cap_tokens(load_config(tmp_path)) == 4096
    assert cap_tokens(load_config(tmp_path, reserve_tokens=1000)) == 1000
    assert cap_tokens(load_config(tmp_path, reserve_tokens=1000, max_tokens=500)) == 500
    assert cap_tokens(load_config(tmp_path, max_tokens=500, reply_token_cap=64)) == 64


def test_reply_token_cap_must_be_a_positive_integer(tmp_path):
    with pytest.raises(ConfigError, match="reply_token_cap"):
        load_config(tmp_path, reply_token_cap=0)


def test_tool_call_deltas_count_their_text_not_their_json():
    delta = [{"index": 0, "function": {"arguments": "abc"}}]
    assert tool_call_text(delta) == "abc"


LOOPING = "I will now read the file again. " * 400  # 12,800 characters, a 32-character loop


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_looping_stream_is_cut_once_it_plainly_repeats_long_before_the_cap(
    scripted_server, workspace, backend, time_limit
):
    scripted_server.queue(text(LOOPING))
    recorder = Recorder()
    options = {**_options(scripted_server, backend), "reply_token_cap": 100_000}
    with time_limit(GENEROUS):
        with claw_nb.create_agent(
            workspace, log=False, mode="auto", listeners=[recorder], **options
        ) as agent:
            result = agent.run("say something")
    assert result.stop_reason == "reply_too_long"
    assert "looping" in result.error and "32 characters" in result.error
    assert "'I will now read the file again. '" in result.error  # the piece, shown quoted
    shown = sum(len(e.text) for e in recorder.of(ev.TextDelta))
    assert 4_000 <= shown < 4_000 + 2 * 512 < len(LOOPING)  # cut at the first look past 4,000


def test_the_loop_watch_sees_repeats_up_to_a_thousand_characters_and_nothing_else():
    def cut(stream: str, chunk: int = 7) -> str | None:
        cap = ReplyCap(1_000_000)
        try:
            for i in range(0, len(stream), chunk):
                cap.add(stream[i : i + chunk])
        except ReplyTooLong as exc:
            return str(exc)
        return None

    assert "piece of 1 characters" in cut("\n" * 5_000, chunk=1)  # blank lines
    assert "piece of 2 characters" in cut("ab" * 3_000, chunk=3)
    assert "piece of 1000 characters" in cut(("x" * 999 + "y") * 7)
    assert cut(("z" * 1_001 + "\n") * 10) is None  # a longer piece: left to the cap
    assert cut("\n".join(f"{i},{i * i},{i % 7}" for i in range(3_000))) is None  # rows of data
    source = (ROOT / "claw_nb" / "agent.py").read_text()
    assert cut(source * 2) is None  # code, even written twice
    assert cut("word " * 700) is None  # 3,500 characters: under the window


def test_the_piece_is_shown_escaped():
    cap = ReplyCap(1_000_000)
    with pytest.raises(ReplyTooLong) as caught:
        for _ in range(600):
            cap.add("\x1b[2Kok\u202e ")
    assert "\x1b" not in str(caught.value) and "\u202e" not in str(caught.value)
    assert "\\x1b[2Kok\\u202e " in str(caught.value)


def test_a_tool_call_may_write_one_line_over_and_over():
    cap = ReplyCap(1_000_000)
    for _ in range(2_400):
        cap.add(None, None, calls="all work and no play\n")  # a file's content, in a call
    assert cap.chars == 2_400 * 21
    with pytest.raises(ReplyTooLong, match="looping"):
        for _ in range(400):
            cap.add("all work and no play\n")  # the same in the reply's prose
