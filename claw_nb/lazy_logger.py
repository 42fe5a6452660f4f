"""Loggers that import `logging` only when a message can go somewhere.

Importing `logging` brings `traceback`, `linecache`, `tokenize` (whose module-level regular
expression alone is ~2 ms) and `string`: ~7 ms of CPU in every `claw-nb run`, lab trial and
ACP session, which at their default settings log nothing. While nothing has imported
`logging`, nothing has configured it either, so the root logger's default level (WARNING)
applies and a DEBUG or INFO message would be dropped: such a message is dropped here without
the import. A WARNING or above imports `logging` and goes through the real logger, as does
everything once `logging` is loaded (a notebook, pytest, an application that configures it).
"""

from __future__ import annotations

import sys
from typing import Any

_WARNING = 30


class LazyLogger:
    """`logging.getLogger(name)`, fetched at the first message that may be emitted."""

    __slots__ = ("name", "_logger")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: Any = None

    def _real(self) -> Any:
        if self._logger is None:
            import logging

            self._logger = logging.getLogger(self.name)
        return self._logger

    def _send(self, level: int, msg: object, args: tuple, kwargs: dict[str, Any]) -> None:
        if level < _WARNING and "logging" not in sys.modules:
            return  # unconfigured: the default WARNING level drops it
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 2  # the caller, not this module
        self._real().log(level, msg, *args, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._send(10, msg, args, kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._send(20, msg, args, kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._send(30, msg, args, kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._send(40, msg, args, kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self._send(40, msg, args, kwargs)

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 -- logging's name
        if level < _WARNING and "logging" not in sys.modules:
            return False
        return bool(self._real().isEnabledFor(level))

    def __getattr__(self, name: str) -> Any:  # handlers, setLevel...: the real logger's
        return getattr(self._real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in LazyLogger.__slots__:
            object.__setattr__(self, name, value)
        else:  # `propagate`, `disabled`...: the real logger's
            setattr(self._real(), name, value)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)
