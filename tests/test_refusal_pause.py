"""A refused token request is not repeated by every caller: no flood of IMS with a wrong secret.

A non-retryable refusal (``invalid_client`` for a revoked secret, say) is handed to every caller
with no usable token for ``refresh_retry_delay`` (30 s by default) without a new request; then
the next call asks again. ``force_refresh`` and ``invalidate()`` ask at once.
"""

from __future__ import annotations

import asyncio

import pytest

import imstoken
from imstoken.testing import Credential, LocalIMS

from .conftest import FakeClock


def refused_provider(cred: Credential, mono: FakeClock) -> imstoken.TokenProvider:
    config = {**cred.config("oauth"), "client_secret": "not-the-secret"}
    return imstoken.from_config(config, monotonic=mono)


def test_callers_with_no_token_get_the_refusal_again_without_a_request(
    ims: LocalIMS, cred: Credential
) -> None:
    mono = FakeClock(1000.0)
    provider = refused_provider(cred, mono)
    errors = []
    for _ in range(20):
        with pytest.raises(imstoken.TokenRequestRefused) as caught:
            provider.get_token()
        errors.append(caught.value)
    assert ims.count() == 1
    assert {error.error for error in errors} == {"invalid_client"}
    assert len({id(error) for error in errors}) == 20  # each caller gets its own copy
    mono.advance(31)  # the pause is over: one more request
    with pytest.raises(imstoken.TokenRequestRefused):
        provider.get_token()
    assert ims.count() == 2


def test_the_pause_holds_for_every_provider_of_the_credential_and_for_asyncio(
    ims: LocalIMS, cred: Credential
) -> None:
    mono = FakeClock(1000.0)
    with pytest.raises(imstoken.TokenRequestRefused):
        refused_provider(cred, mono).get_token()

    async def main() -> None:
        for _ in range(10):
            with pytest.raises(imstoken.TokenRequestRefused):
                await refused_provider(cred, mono).aget_token()

    asyncio.run(main())
    assert ims.count() == 1


def test_force_refresh_and_invalidate_ask_at_once(ims: LocalIMS, cred: Credential) -> None:
    mono = FakeClock(1000.0)
    provider = refused_provider(cred, mono)
    with pytest.raises(imstoken.TokenRequestRefused):
        provider.get_token()
    with pytest.raises(imstoken.TokenRequestRefused):
        provider.get_token(force_refresh=True)
    assert ims.count() == 2
    provider.invalidate()
    with pytest.raises(imstoken.TokenRequestRefused):
        provider.get_token()
    assert ims.count() == 3


def test_a_retryable_failure_is_not_paused(ims: LocalIMS, cred: Credential) -> None:
    mono = FakeClock(1000.0)
    provider = imstoken.from_config(cred.config("oauth", timeout=1.0, deadline=1.0), monotonic=mono)
    ims.fail_next(100, status=503)
    with pytest.raises(imstoken.TokenRequestError):
        provider.get_token()
    first = ims.count()
    ims.clear_faults()
    assert provider.get_token().access_token  # IMS is back: the next call gets a token
    assert ims.count() == first + 1
