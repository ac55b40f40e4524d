"""asyncio: many concurrent tasks share one token; the event loop is never blocked.

Run against the bundled local IMS: python examples/asyncio_app.py
"""

from __future__ import annotations

import asyncio

import httpx
from local_api import LocalAPI

import imstoken
from imstoken.testing import LocalIMS


async def call_api(client: httpx.AsyncClient, url: str) -> int:
    answer = await client.get(url)  # auth=provider adds the token and the Adobe headers
    return answer.status_code


async def main() -> None:
    with LocalIMS(latency=0.05) as ims, LocalAPI(ims) as api:
        cred = ims.add_credential()
        provider = imstoken.from_config(cred.config("oauth"))
        limits = httpx.Limits(max_connections=20)
        async with provider, httpx.AsyncClient(auth=provider, limits=limits) as client:
            url = f"{api.url}/data/foundation/catalog/batches"
            statuses = await asyncio.gather(*(call_api(client, url) for _ in range(200)))
        print(
            f"200 tasks, API answered {statuses.count(200)} with 200; "
            f"token requests at IMS: {ims.count()}"
        )


if __name__ == "__main__":
    asyncio.run(main())
