"""llama-cpp-python's server, saying what it read: llama-server's `timings` in its replies.

llama-cpp-python 0.3.36's server reports `usage` (prompt and completion tokens) in whole
replies only, and nothing of its prompt cache: how many prompt tokens it reused from the last
request and how many it read, nor its prefill and decode times. llama.cpp's own server says so
in `timings` (`prompt_n`, `cache_n`, `prompt_ms`, `predicted_n`, `predicted_ms`) and in
`usage.prompt_tokens_details.cached_tokens`. This script runs the same server with those figures
added, so the embedded model's calls log their prefill like llama-server's
(`claw_nb.model.reply.apply_server_timings`):

- `Llama.generate` is wrapped: the prompt's length, the tokens evaluated before the first
  generated token (the perf counters; a count whose time is zero was zero), and wall times for
  the prompt (start to first token) and the reply (first token to last);
- `Llama.create_chat_completion` adds them: a whole reply gets `timings` and `cached_tokens`
  (returned as a JSON response: the route's response model would drop unknown keys), a stream
  gets `timings` on its last chunk, as llama-server sends it.

It runs as a script (`python embedded_timings.py SERVER-ARGS`), in the server's process only,
and imports nothing from claw_nb. Anything it cannot measure leaves the reply as it was.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any


def _perf_read(llama: Any) -> int:
    """Tokens llama.cpp evaluated since the last reset (prompt batches and single tokens)."""
    import llama_cpp

    data = llama_cpp.llama_perf_context(llama.ctx)
    # the counters read at least 1 each; one whose time is still zero counted nothing
    return (data.n_p_eval if data.t_p_eval_ms > 0 else 0) + (
        data.n_eval if data.t_eval_ms > 0 else 0
    )


def _new_figures() -> dict[str, float]:
    return {"prompt_n": 0, "cache_n": 0, "prompt_ms": 0.0, "predicted_n": 0, "predicted_ms": 0.0}


def patch() -> bool:
    """Wrap `Llama.generate` and `Llama.create_chat_completion`; False when it cannot."""
    try:
        import llama_cpp
        from starlette.responses import JSONResponse
    except ImportError:
        return False
    llama_class = llama_cpp.Llama
    generate, chat = llama_class.generate, llama_class.create_chat_completion

    def timed_generate(self: Any, tokens: Any, *args: Any, **kwargs: Any) -> Iterator[int]:
        figures = getattr(self, "_claw_figures", None)
        tokens = list(tokens)
        try:
            llama_cpp.llama_perf_context_reset(self.ctx)
        except Exception:  # noqa: BLE001 - no counters: the reply goes out without timings
            figures = None
        started, last = time.perf_counter(), None  # `last`: when the previous token came
        for token in generate(self, tokens, *args, **kwargs):
            now = time.perf_counter()
            if figures is not None and last is None:  # the prompt is read: the first token
                try:
                    read = min(len(tokens), _perf_read(self))
                except Exception:  # noqa: BLE001 - no counters: the reply goes out without them
                    figures = self._claw_figures = None
                else:
                    figures["prompt_n"] += read
                    figures["cache_n"] += len(tokens) - read
                    figures["prompt_ms"] += (now - started) * 1000
            elif figures is not None:
                figures["predicted_ms"] += (now - last) * 1000
            if figures is not None:
                figures["predicted_n"] += 1
            last = now
            yield token

    def chat_with_timings(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._claw_figures = _new_figures()
        result = chat(self, *args, **kwargs)
        if kwargs.get("stream"):
            return _stream_with_timings(self, result)
        figures = self._claw_figures
        if not isinstance(result, dict) or figures is None:
            return result
        result = {**result, "timings": _timings(figures)}
        usage = result.get("usage")
        if isinstance(usage, dict):
            details = {"cached_tokens": int(figures["cache_n"])}
            result["usage"] = {**usage, "prompt_tokens_details": details}
        return JSONResponse(result)

    llama_class.generate = timed_generate
    llama_class.create_chat_completion = chat_with_timings
    return True


def _timings(figures: dict[str, float]) -> dict[str, float]:
    return {
        "prompt_n": int(figures["prompt_n"]),
        "cache_n": int(figures["cache_n"]),
        "prompt_ms": round(figures["prompt_ms"], 3),
        "predicted_n": int(figures["predicted_n"]),
        "predicted_ms": round(figures["predicted_ms"], 3),
    }


def _stream_with_timings(llama: Any, chunks: Iterator[dict]) -> Iterator[dict]:
    """The stream, its finishing chunk carrying the timings (llama-server sends them last)."""
    for chunk in chunks:
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        finished = bool(choices) and choices[0].get("finish_reason") is not None
        figures = getattr(llama, "_claw_figures", None)
        if finished and figures is not None:
            chunk = {**chunk, "timings": _timings(figures)}
        yield chunk


def main(argv: list[str]) -> None:
    patch()
    from llama_cpp.server.__main__ import main as serve

    sys.argv = ["llama_cpp.server", *argv]
    serve()


if __name__ == "__main__":
    main(sys.argv[1:])
