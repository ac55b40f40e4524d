"""Herds: many threads and asyncio tasks needing a token at once cause exactly one request.

The local IMS is paused while the callers pile up, so every caller overlaps the single request in
flight; the request count is then a deterministic fact, not luck.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import imstoken
from imstoken.testing import Credential, LocalIMS


def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.001)


def test_64_threads_cause_one_request(ims: LocalIMS, cred: Credential) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    ims.pause()
    barrier = threading.Barrier(64)
    entered = []
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        entered.append(1)
        results.append(provider.get_token().access_token)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(entered) == 64 and ims.count() == 1)
    ims.resume()
    for thread in threads:
        thread.join()
    assert ims.count("oauth") == 1
    assert len(results) == 64
    assert len(set(results)) == 1


def test_1000_asyncio_tasks_cause_one_request(ims: LocalIMS, cred: Credential) -> None:
    provider = imstoken.from_config(cred.config("oauth"))

    async def main() -> set[str]:
        ims.pause()
        tasks = [asyncio.create_task(provider.aget_token()) for _ in range(1000)]
        while ims.count() < 1:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0)  # every task has run up to its wait
        ims.resume()
        tokens = await asyncio.gather(*tasks)
        await provider.aclose()
        return {token.access_token for token in tokens}

    assert len(asyncio.run(main())) == 1
    assert ims.count("oauth") == 1


def test_threads_and_tasks_on_one_provider_cause_one_request(
    ims: LocalIMS, cred: Credential
) -> None:
    provider = imstoken.from_config(cred.config("jwt"))
    ims.pause()
    results: list[str] = []
    barrier = threading.Barrier(33)

    def worker() -> None:
        barrier.wait()
        results.append(provider.get_token().access_token)

    async def many_tasks() -> None:
        barrier.wait()
        tokens = await asyncio.gather(*(provider.aget_token() for _ in range(500)))
        results.extend(token.access_token for token in tokens)
        await provider.aclose()

    threads = [threading.Thread(target=worker) for _ in range(32)]
    threads.append(threading.Thread(target=asyncio.run, args=(many_tasks(),)))
    for thread in threads:
        thread.start()
    wait_until(lambda: ims.count() == 1)
    time.sleep(0.05)  # not needed for correctness: only lets more callers pile up
    ims.resume()
    for thread in threads:
        thread.join()
    assert ims.count() == 1
    assert len(results) == 532
    assert len(set(results)) == 1


def test_the_event_loop_keeps_running_while_a_token_request_is_in_flight(
    ims: LocalIMS, cred: Credential
) -> None:
    provider = imstoken.from_config(cred.config("oauth"))

    async def main() -> int:
        ims.pause()
        fetch = asyncio.create_task(provider.aget_token())
        ticks = 0
        while ims.count() < 1 or ticks < 100:
            await asyncio.sleep(0)  # would never get here if the fetch blocked the loop
            ticks += 1
        ims.resume()
        await fetch
        await provider.aclose()
        return ticks

    assert asyncio.run(main()) >= 100


def test_one_failure_reaches_every_waiting_caller_as_a_typed_error(
    ims: LocalIMS, cred: Credential
) -> None:
    provider = imstoken.from_config({**cred.config("oauth"), "client_secret": "wrong"})
    ims.pause()
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        try:
            provider.get_token()
        except imstoken.TokenRequestError as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    wait_until(lambda: ims.count() == 1)
    ims.resume()
    for thread in threads:
        thread.join()
    assert len(errors) == 16
    assert all(getattr(e, "error", None) == "invalid_client" for e in errors)
    assert len({id(e) for e in errors}) == 16  # each caller gets its own copy
    assert ims.count() <= 2
