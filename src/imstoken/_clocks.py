"""The clocks a provider reads and the ways it waits, injectable as one value (tests pass fakes)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Clocks:
    """``wall``: Unix seconds; ``monotonic``: never steps; ``sleep`` / ``async_sleep``: pauses."""

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] | None = None  # None: asyncio.sleep

    async def sleep_async(self, seconds: float) -> None:
        """Pause without blocking the event loop (asyncio is imported only when needed)."""
        if self.async_sleep is not None:
            await self.async_sleep(seconds)
            return
        import asyncio

        await asyncio.sleep(seconds)
