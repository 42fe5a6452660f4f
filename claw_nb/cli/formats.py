"""The run's output formats (`--output-format`): the parser offers them without importing the
JSON writer (`cli/headless.py`), which only a JSON run needs."""

from __future__ import annotations

from typing import Literal, get_args

OutputFormat = Literal["text", "json", "stream-json"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
