"""Shared caches: how one token is shared beyond this process.

- ``_protocol``: the ``SharedCache`` protocol (a leaf: it knows no implementation);
- ``_record``: the stored record's codec and its plausibility bounds;
- ``_seal``, ``_sealed``: records sealed with AES-GCM; ``SealedCache`` over a record store;
- ``_file``: one machine, many processes (``cache = "file"``);
- ``_redis``: many hosts (``cache = "redis://..."``);
- ``_select``: the cache a ``cache`` setting names.
- ``_bounded``: every cache call on a process-owned pool, waited for only as the deadline allows.
"""

from ._protocol import LockHandle, RecordStore, SharedCache

__all__ = ["LockHandle", "RecordStore", "SharedCache"]
