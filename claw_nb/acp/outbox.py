"""The bridge between the agent's thread and the protocol's event loop, for one session.

The agent runs synchronously in a worker thread; the ACP connection lives on an asyncio loop.
Listeners are called on the agent's thread, so every session update is handed to the loop and
sent by one pump, one at a time, in the order the loop emitted it. When the thread needs an
answer (a permission, a file's text), `call` runs the request on the loop after the updates
queued before it, so the client has seen a tool call before it is asked about it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from claw_nb.stop import StopToken

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Outbox:
    """Ordered session updates from any thread; requests from the agent's thread to the loop.

    Create it on the loop's thread (it starts its pump there). `send(update)` is the coroutine
    that delivers one update (the connection's `session_update` for this session).
    """

    def __init__(self, send: Callable[[Any], Awaitable[None]]) -> None:
        self._loop = asyncio.get_running_loop()
        self._send = send
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._pump = self._loop.create_task(self._run(), name="claw-acp-outbox")

    def put(self, update: Any) -> None:
        """Queue `update` for the client (from any thread, the loop's own included)."""
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # a worker thread: no loop runs there
            on_loop = False
        if on_loop:  # at once, so a `drain` that follows waits for it
            self._queue.put_nowait(update)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, update)

    async def drain(self) -> None:
        """Return once every update queued so far has been handed to the connection."""
        await self._queue.join()

    def call(
        self,
        request: Callable[[], Awaitable[T]],
        *,
        stop: StopToken | None = None,
        timeout: float | None = None,
    ) -> T:
        """From a thread that is not the loop's: `await request()` on the loop, after the updates
        queued before it, and return its result.

        A stop of `stop` cancels the request: this raises `concurrent.futures.CancelledError`
        (so a permission pending when the user cancels the turn ends at once); `timeout`
        raises TimeoutError. Errors of the request itself are raised as they are.
        """

        async def after_updates() -> T:
            await self.drain()
            return await request()

        future = asyncio.run_coroutine_threadsafe(after_updates(), self._loop)
        forget = stop.on_stop(future.cancel) if stop is not None else (lambda: None)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise
        finally:
            forget()

    async def close(self) -> None:
        """Send what is queued, then stop the pump."""
        if not self._pump.done():
            await self.drain()
            self._pump.cancel()

    async def _run(self) -> None:
        while True:
            update = await self._queue.get()
            try:
                await self._send(update)
            except Exception:  # noqa: BLE001 - a closed connection must not stop the agent
                logger.debug("claw_nb acp: could not send a session update", exc_info=True)
            finally:
                self._queue.task_done()
