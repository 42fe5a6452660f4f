"""The GGUF header reader and the embedded server's window (no llama.cpp needed)."""

from __future__ import annotations

import struct

from claw_nb.model import embedded, gguf


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _write_gguf(path, pairs):
    body = b""
    for key, kind, value in pairs:
        body += _string(key) + struct.pack("<I", kind)
        if kind == 8:
            body += _string(value)
        elif kind == 9:  # an array of strings
            body += struct.pack("<IQ", 8, len(value)) + b"".join(map(_string, value))
        else:
            body += struct.pack("<I", value)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + body)


def _model(tmp_path, window=8192):
    path = tmp_path / "m.gguf"
    _write_gguf(
        path,
        [
            ("general.architecture", 8, "llama"),
            ("tokenizer.ggml.tokens", 9, ["a", "bb", "<|im_end|>"]),
            ("llama.context_length", 4, window),
            ("llama.block_count", 4, 30),
            ("llama.embedding_length", 4, 576),
            ("llama.attention.head_count", 4, 9),
            ("llama.attention.head_count_kv", 4, 3),
        ],
    )
    return embedded.LocalModel("m", path)


def test_the_header_gives_the_trained_window_and_kv_size(tmp_path):
    shape = gguf.model_shape(_model(tmp_path).path)
    assert shape.trained_window == 8192
    assert shape.kv_bytes_per_token == 30 * 3 * (64 + 64) * 2  # SmolLM2-135M: 23,040


def test_arrays_are_skipped_unless_asked_for(tmp_path):
    path = _model(tmp_path).path
    assert "tokenizer.ggml.tokens" not in gguf.read_metadata(path)
    assert gguf.read_metadata(path, ["tokenizer.ggml.tokens"])["tokenizer.ggml.tokens"][2] == (
        "<|im_end|>"
    )


def test_the_window_is_the_trained_one_when_memory_allows(tmp_path):
    assert embedded.context_size(_model(tmp_path), memory=16 << 30) == (
        8192,
        "llama.context_length",
    )


def test_the_window_shrinks_to_what_a_quarter_of_memory_holds(tmp_path):
    size, why = embedded.context_size(_model(tmp_path), memory=64 << 20)
    assert size == (64 << 20) // 4 // 23040 // 256 * 256 and why == "memory (KV cache)"


def test_a_huge_trained_window_is_capped(tmp_path):
    size, _why = embedded.context_size(_model(tmp_path, window=131072), memory=1 << 40)
    assert size == embedded.MAX_N_CTX


def test_an_unreadable_file_falls_back_to_the_default(tmp_path):
    path = tmp_path / "x.gguf"
    path.write_bytes(b"nope")
    assert embedded.context_size(embedded.LocalModel("x", path))[0] == embedded.N_CTX
