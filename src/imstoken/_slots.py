"""The process-wide slot registry: one slot per cache key, shared by every provider in the process.

A slot holds the current token entry and the single-flight state. Providers built from the same
credential (an app that builds one per request, say) find the same slot, so they share one token.
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import Future

from cachetools import LRUCache

from ._policy import Entry


class Slot:
    """Token and single-flight state for one cache key. ``lock`` is never held across I/O."""

    __slots__ = ("__weakref__", "entry", "inflight", "key", "lock", "next_attempt_at")

    def __init__(self, key: str) -> None:
        self.key = key
        self.entry: Entry | None = None
        self.lock = threading.Lock()
        self.inflight: Future[Entry] | None = None
        self.next_attempt_at = 0.0


_registry_lock = threading.Lock()
# Bounded so that a process minting tokens for ever-new credentials cannot grow without limit;
# the most recently used slots stay even when no provider holds them (a provider per request).
_slots: LRUCache[str, Slot] = LRUCache(maxsize=4096)
# Every slot some provider still holds, so an LRU eviction never splits one credential in two.
_live: weakref.WeakValueDictionary[str, Slot] = weakref.WeakValueDictionary()


def slot_for(key: str) -> Slot:
    """The process-wide slot for ``key``, created on first use."""
    with _registry_lock:
        slot = _slots.get(key)
        if slot is None:
            slot = _live.get(key)
            if slot is None:
                slot = Slot(key)
                _live[key] = slot
            _slots[key] = slot
        return slot


def clear() -> None:
    """Forget every cached token in this process (tests, or after rotating credentials)."""
    with _registry_lock:
        # Slots stay registered: providers holding them must keep sharing with new ones.
        for slot in list(_live.values()):
            with slot.lock:
                slot.entry = None
                slot.next_attempt_at = 0.0
        _slots.clear()


def _after_fork_in_child() -> None:
    # A fork copies locks in whatever state they were and futures nobody will complete.
    global _registry_lock
    _registry_lock = threading.Lock()
    for slot in list(_live.values()):
        slot.lock = threading.Lock()
        slot.inflight = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
