"""A fleet cache: several worker processes share one token through the file cache.

Each worker builds its own provider from the same config with `cache = "file"` (one machine)
and calls the API; only one of them asks IMS for a token, the others read it from the cache.
For many machines, set `cache = "redis://host:6379/0"` instead (extra: imstoken[redis]); the
example takes a Redis URL as its first argument to show that.

Run against the bundled local IMS: python examples/fleet_cache.py [redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
from typing import Any

import httpx
from local_api import LocalAPI

import imstoken
from imstoken.testing import LocalIMS

WORKERS = 4


def worker(config: dict[str, Any], api_url: str, start: Any) -> int:
    start.wait()  # all workers ask at once
    with imstoken.from_config(config) as provider, httpx.Client(auth=provider) as client:
        return client.get(f"{api_url}/users").status_code


def main() -> None:
    with (
        LocalIMS(latency=0.2) as ims,
        LocalAPI(ims) as api,
        tempfile.TemporaryDirectory() as folder,
    ):
        cred = ims.add_credential()
        cache = sys.argv[1] if len(sys.argv) > 1 else "file"
        config = cred.config("oauth", cache=cache, cache_path=folder)
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            start = manager.Barrier(WORKERS)
            with context.Pool(WORKERS) as pool:
                statuses = pool.starmap(worker, [(config, api.url, start)] * WORKERS)
        print(
            f"{WORKERS} processes, API answered {statuses.count(200)} with 200; "
            f"token requests at IMS: {ims.count()}"
        )


if __name__ == "__main__":
    main()
