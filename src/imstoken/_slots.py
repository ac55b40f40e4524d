"""The process-wide slot registry: one slot per cache key, shared by every provider in the process.

A slot holds the current token entry and the single-flight state. Providers built from the same
credential (an app that builds one per request, say) find the same slot, so they share one token.

The registry is bounded by memory, not by a count: a slot whose token is still usable is never
dropped because there are many of them. When the registry grows, a sweep first drops the slots
with nothing usable in them (expired tokens, slots never filled); only if the rest is still over
the memory budget (``IMSTOKEN_MEMORY_BUDGET``, default 512 MiB) are the least recently used
dropped, with one WARNING per process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from ._errors import ConfigError
from ._policy import Entry

if TYPE_CHECKING:
    from ._flight import Flight
    from ._rejections import RejectionState

logger = logging.getLogger("imstoken")

BUDGET_VARIABLE = "IMSTOKEN_MEMORY_BUDGET"
DEFAULT_BUDGET = 512 * 1024 * 1024
# What one slot costs beyond its token's characters, measured with tracemalloc (CPython 3.11,
# 64-bit): the slot, its lock, its key, its registry entries, the entry, the token and the
# headers dict. The token is counted twice: as the token and inside the Authorization header.
SLOT_BYTES = 500
ENTRY_BYTES = 600
# Sweep when the registry has grown by an eighth since the last one (at least this many slots):
# a sweep visits every slot, so its cost per new slot stays constant.
MIN_SWEEP_GROWTH = 1024

_UNITS = {
    "": 1,
    "B": 1,
    "K": 1024,
    "KB": 1000,
    "KIB": 1024,
    "M": 1024**2,
    "MB": 1000**2,
    "MIB": 1024**2,
    "G": 1024**3,
    "GB": 1000**3,
    "GIB": 1024**3,
}


class Slot:
    """Token and single-flight state for one cache key. ``lock`` is never held across I/O."""

    __slots__ = (
        "__weakref__",
        "clock",
        "entry",
        "inflight",
        "key",
        "lock",
        "next_attempt_at",
        "refused",
        "rejections",
    )

    def __init__(self, key: str) -> None:
        self.key = key
        self.entry: Entry | None = None
        # The wall clock the entry's instants were computed with (the provider's, injectable).
        self.clock: Callable[[], float] = time.time
        self.lock = threading.Lock()
        self.inflight: Future[Entry] | None = None
        self.next_attempt_at = 0.0
        # The 401 bookkeeping (imstoken._rejections), made at the first 401: it lives as long
        # as the slot, which a count never evicts while its token is usable.
        self.rejections: RejectionState | None = None
        # A refused fetch (a non-retryable TokenRequestRefused) and the monotonic instant until
        # which callers with no usable token get its error again instead of a request.
        self.refused: tuple[Flight, float] | None = None


def parse_budget(text: str) -> int:
    """Bytes from ``"536870912"``, ``"512MiB"`` or ``"1 GB"``; else ConfigError naming it."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise ConfigError(
            f"{BUDGET_VARIABLE} must be a size in bytes, optionally with KiB, MiB or GiB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def _budget_from_environment() -> int:
    text = os.environ.get(BUDGET_VARIABLE)
    if text is None or not text.strip():
        return DEFAULT_BUDGET
    try:
        return parse_budget(text)
    except ConfigError as error:
        # Read mid-flight (a sweep may run as a fetch completes): say so, never fail a caller.
        logger.warning("imstoken: %s; using the default of %d bytes", error, DEFAULT_BUDGET)
        return DEFAULT_BUDGET


def estimated_bytes(slot: Slot) -> int:
    """What ``slot`` holds in memory, estimated (the budget's unit)."""
    entry = slot.entry
    if entry is None:
        return SLOT_BYTES
    return SLOT_BYTES + ENTRY_BYTES + 2 * len(entry.token.access_token)


class _Registry:
    """The slots, most recently used last, and what bounds them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # Strong references: slots stay when no provider holds them (a provider per request).
        self.slots: OrderedDict[str, Slot] = OrderedDict()
        # Every slot some provider still holds, so a dropped slot never splits one credential.
        self.live: weakref.WeakValueDictionary[str, Slot] = weakref.WeakValueDictionary()
        self.budget: int | None = None  # read from the environment on first use
        self.next_sweep = MIN_SWEEP_GROWTH
        self.warned = False

    def sweep(self) -> None:
        """Drop slots with nothing usable, then the least recently used past the budget."""
        slots = self.slots
        for key in [key for key, slot in slots.items() if not _usable(slot)]:
            del slots[key]
        if self.budget is None:
            self.budget = _budget_from_environment()
        total = sum(estimated_bytes(slot) for slot in slots.values())
        if total > self.budget:
            # Down to 7/8 of the budget, so the next slots do not each cost a sweep.
            target = self.budget - self.budget // 8
            dropped = 0
            while slots and total > target:
                _, slot = slots.popitem(last=False)
                total -= estimated_bytes(slot)
                dropped += 1
            if not self.warned:
                self.warned = True
                logger.warning(
                    "imstoken: the in-memory token cache reached its budget of %d bytes; "
                    "dropped the %d least recently used of its valid tokens (they will be "
                    "fetched again when used). Raise %s if this process serves this many "
                    "credentials.",
                    self.budget,
                    dropped,
                    BUDGET_VARIABLE,
                )
        # Next sweep: after an eighth more slots, or sooner if the budget would be reached.
        growth = max(MIN_SWEEP_GROWTH, len(slots) // 8)
        average = total // len(slots) if slots else SLOT_BYTES + ENTRY_BYTES
        headroom = max(self.budget - total, 0) // max(average, 1)
        self.next_sweep = len(slots) + max(1, min(growth, headroom))


def _usable(slot: Slot) -> bool:
    entry = slot.entry
    return entry is not None and entry.is_usable(slot.clock())


_registry = _Registry()


def slot_for(key: str) -> Slot:
    """The process-wide slot for ``key``, created on first use."""
    registry = _registry
    with registry.lock:
        slots = registry.slots
        slot = slots.get(key)
        if slot is not None:
            slots.move_to_end(key)
            return slot
        slot = registry.live.get(key)
        if slot is None:
            slot = Slot(key)
            registry.live[key] = slot
        slots[key] = slot
        if len(slots) >= registry.next_sweep:
            registry.sweep()
        return slot


def remember(slot: Slot, clock: Callable[[], float]) -> None:
    """Keep ``slot`` registered now that it holds a token (a sweep may have dropped it empty).

    ``clock`` is the wall clock its entry was made with: the sweeps judge expiry by it.
    """
    registry = _registry
    with registry.lock:
        slot.clock = clock
        slots = registry.slots
        if slots.get(slot.key) is slot:
            slots.move_to_end(slot.key)
            return
        slots[slot.key] = slot
        if len(slots) >= registry.next_sweep:
            registry.sweep()


def configure(*, budget: int | None = None) -> None:
    """Set the memory budget in bytes (None: read ``IMSTOKEN_MEMORY_BUDGET`` again)."""
    with _registry.lock:
        _registry.budget = budget
        _registry.warned = False
        _registry.next_sweep = len(_registry.slots) + 1  # apply at the next new slot


def sweep() -> None:
    """Apply the rules now (normally done as new slots arrive)."""
    with _registry.lock:
        _registry.sweep()


def cached_count() -> int:
    """How many slots the registry holds (with or without a provider holding them)."""
    return len(_registry.slots)


def holds(key: str) -> bool:
    """Whether the registry itself holds the slot for ``key`` (not only a provider)."""
    return key in _registry.slots


def clear() -> None:
    """Forget every cached token in this process (tests, or after rotating credentials),
    and every remembered configuration: the next provider validates its own again."""
    from . import _memo  # lazily: the memo sits above the registry

    _memo.memo.clear()
    registry = _registry
    with registry.lock:
        # Slots stay registered: providers holding them must keep sharing with new ones.
        for slot in list(registry.live.values()):
            with slot.lock:
                slot.entry = slot.refused = slot.rejections = None
                slot.next_attempt_at = 0.0
        registry.slots.clear()
        registry.next_sweep = MIN_SWEEP_GROWTH


def _after_fork_in_child() -> None:
    # A fork copies locks in whatever state they were and futures nobody will complete.
    _registry.lock = threading.Lock()
    for slot in list(_registry.live.values()):
        slot.lock = threading.Lock()
        slot.inflight = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
