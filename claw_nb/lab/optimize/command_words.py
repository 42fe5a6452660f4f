"""The words of `lab optimize` turned into values: `--set KEY=V1,V2`, `--fragment NAME=TEXT`,
`--split FILE`. Each bad word is a one-line ConfigError that names it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from claw_nb.errors import ConfigError


def parse_values(text: str) -> tuple[str, list[Any]]:
    """``temperature=0,0.7`` -> ("temperature", [0, 0.7]) (numbers as numbers)."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"--set {text!r}: write KEY=V1,V2 (e.g. temperature=0,0.7)")

    def value(word: str) -> Any:
        try:
            return json.loads(word)
        except json.JSONDecodeError:
            return word

    return key.strip().replace("-", "_"), [value(w.strip()) for w in values.split(",")]


def parse_fragment(text: str) -> tuple[str, str]:
    """``NAME=TEXT`` or ``NAME=@FILE`` -> (name, text)."""
    name, sep, body = text.partition("=")
    if not sep or not name.strip() or not body:
        raise ConfigError(f"--fragment {text!r}: write NAME=TEXT or NAME=@FILE")
    if body.startswith("@"):
        path = Path(body[1:]).expanduser()
        if not path.is_file():
            raise ConfigError(f"--fragment {name}: file {path} does not exist")
        body = path.read_text(encoding="utf-8")
    return name.strip(), body


def read_split(path: Path) -> dict[str, list[str]]:
    """A `--split` file: JSON or TOML with train, val and held_out lists of task names."""
    if not path.is_file():
        raise ConfigError(f"--split: file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--split {path}: {exc}") from None
    missing = [k for k in ("train", "val", "held_out") if not isinstance(data.get(k), list)]
    if missing:
        raise ConfigError(f"--split {path}: needs lists {', '.join(missing)} of task names")
    return {k: [str(n) for n in data[k]] for k in ("train", "val", "held_out")}
