"""What a GGUF file says about its model, read from the header without loading llama.cpp.

The embedded server needs a GGUF's trained window (`<arch>.context_length`) and the size of
its KV cache per token before it starts. The header is a flat list of typed key/value pairs
(https://github.com/ggml-org/ggml/blob/master/docs/gguf.md); reading the few keys we need
takes ~20 ms for SmolLM2 (most of it stepping over its 49,152 token strings), where `llama_cpp.Llama(vocab_only=True)` takes ~0.2 s and imports
the library into the host process.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Collection
from pathlib import Path
from typing import Any

from claw_nb.records import record

MAGIC = b"GGUF"
# value type -> struct format of one item (8: string, 9: array are read apart)
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
KV_BYTES_PER_VALUE = 2  # llama.cpp keeps its KV cache in f16 unless told otherwise


class GGUFError(ValueError):
    """The file is not a GGUF file claw_nb can read."""


class _Cursor:
    """Reads little-endian values from the mapped file, front to back."""

    def __init__(self, data: Any) -> None:
        self.data, self.pos = data, 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise GGUFError("the GGUF header ends early")
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def string(self) -> str:
        size = self.unpack("<Q")
        if self.pos + size > len(self.data):
            raise GGUFError("the GGUF header ends early")
        text = bytes(self.data[self.pos : self.pos + size]).decode("utf-8", errors="replace")
        self.pos += size
        return text

    def value(self, kind: int, keep: bool) -> Any:
        """One value; arrays are skipped (None) unless `keep` (arrays of tokens are long)."""
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind != _ARRAY:
            raise GGUFError(f"unknown GGUF value type {kind}")
        item, count = self.unpack("<I"), self.unpack("<Q")
        if keep:
            return [self.value(item, True) for _ in range(count)]
        if item in _SCALARS:
            self.pos += struct.calcsize(_SCALARS[item]) * count
        elif item == _STRING:
            data, pos, length = self.data, self.pos, struct.Struct("<Q")
            for _ in range(count):
                pos += 8 + length.unpack_from(data, pos)[0]
            self.pos = pos
        else:
            for _ in range(count):
                self.value(item, False)
        return None


def read_metadata(path: Path, wanted: Collection[str] | None = None) -> dict[str, Any]:
    """The header's key/value pairs: every scalar and string, and the arrays named in
    `wanted` (arrays of tokens are long, so others are skipped)."""
    wanted = set(wanted or ())
    found: dict[str, Any] = {}
    with open(path, "rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != MAGIC:
            raise GGUFError(f"{path} is not a GGUF file")
        cursor = _Cursor(data)
        cursor.pos = 4
        version = cursor.unpack("<I")
        if version < 2:
            raise GGUFError(f"GGUF version {version} is too old")
        _tensors, count = cursor.unpack("<Q"), cursor.unpack("<Q")
        for _ in range(count):
            key = cursor.string()
            kind = cursor.unpack("<I")
            value = cursor.value(kind, keep=key in wanted)
            if value is not None:
                found[key] = value
    return found


@record(frozen=True)
class ModelShape:
    """The figures that size a llama.cpp context for a model."""

    architecture: str
    trained_window: int | None
    kv_bytes_per_token: int | None  # f16 K and V over all layers; None when not derivable


def model_shape(path: Path) -> ModelShape:
    """The architecture, trained window and KV-cache bytes per token of a GGUF model."""
    meta = read_metadata(path)
    arch = str(meta.get("general.architecture") or "llama")
    get = lambda name: meta.get(f"{arch}.{name}")  # noqa: E731 - a short local alias
    window = get("context_length")
    layers, heads, kv_heads = get("block_count"), get("attention.head_count"), None
    kv_heads = get("attention.head_count_kv") or heads
    width = get("embedding_length")
    per_token = None
    if isinstance(layers, int) and isinstance(kv_heads, int) and heads:
        head_dim = width // heads if isinstance(width, int) else None
        k_len = get("attention.key_length") or head_dim
        v_len = get("attention.value_length") or head_dim
        if k_len and v_len:
            per_token = layers * kv_heads * (k_len + v_len) * KV_BYTES_PER_VALUE
    return ModelShape(arch, int(window) if window else None, per_token)
