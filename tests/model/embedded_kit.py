"""What the tests of both embedded engines (llama-cpp-python, xllamacpp) ask of a real model."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

RAMBLE = [{"role": "user", "content": "Write a very long story about a dragon and a castle."}]


def complete(config: Any, messages: list[dict], tools=(), **kwargs: Any):
    """One model call with `config`, on a model made for it and closed after."""
    from claw_nb.model import make_model

    model = make_model(config)
    try:
        return model.complete(messages, list(tools), **kwargs)
    finally:
        model.close()


def check_a_request_mid_stream_waits(config: Any) -> None:
    """A `/v1/models` probe (or a second agent) sent while a reply streams waits its turn: the
    reply still ends at `max_tokens`, and the probe is answered."""
    probe_done = threading.Event()
    answers: list[int] = []

    def probe() -> None:
        with urllib.request.urlopen(f"{config.api_base}/models", timeout=120) as response:
            answers.append(response.status)
        probe_done.set()

    started = threading.Event()

    def on_text(_text: str) -> None:
        if not started.is_set():
            started.set()
            threading.Thread(target=probe, daemon=True).start()

    reply = complete(config.with_options(stream=True, max_tokens=64), RAMBLE, on_text=on_text)
    assert started.is_set()
    assert reply.finish_reason == "length", f"cut after {len(reply.content)} chars"
    assert probe_done.wait(60) and answers == [200]
