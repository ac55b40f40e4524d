"""The shared cache that a ``cache`` setting names (``memory`` needs none)."""

from __future__ import annotations

from collections.abc import Callable

from ._protocol import RecordStore


def open_shared_cache(
    spec: str,
    *,
    path: str | None,
    prefix: str,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
) -> RecordStore | None:
    """Build the record store a ``cache`` setting names; ``memory`` needs none.

    The provider seals it (:func:`imstoken._caches._sealed.seal_shared`).

    ``monotonic`` and ``sleep`` pace the wait for the cross-process refresh lock.
    """
    if spec in ("memory", "none"):
        return None
    if spec == "file":
        from ._file import FileCache

        return FileCache(path, monotonic=monotonic, sleep=sleep)
    from ._redis import RedisCache

    return RedisCache(spec, prefix=prefix, monotonic=monotonic, sleep=sleep)
