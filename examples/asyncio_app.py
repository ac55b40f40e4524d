"""asyncio: many concurrent tasks share one token; the event loop is never blocked.

Run against the bundled local IMS: python examples/asyncio_app.py
"""

from __future__ import annotations

import asyncio

import httpx

import imstoken
from imstoken.testing import LocalIMS


async def call_api(client: httpx.AsyncClient, provider: imstoken.TokenProvider, n: int) -> str:
    headers = await provider.aheaders()  # or pass auth=provider to the client
    return headers["x-api-key"]


async def main() -> None:
    with LocalIMS(latency=0.05) as ims:
        cred = ims.add_credential()
        provider = imstoken.from_config(cred.config("oauth"))
        async with provider, httpx.AsyncClient(auth=provider) as client:
            keys = await asyncio.gather(*(call_api(client, provider, n) for n in range(1000)))
        print(f"1000 tasks got headers for client {keys[0]}; token requests at IMS: {ims.count()}")


if __name__ == "__main__":
    asyncio.run(main())
