"""Shared fixtures: a clean process-wide token cache per test, and the local IMS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from imstoken import _slots

if TYPE_CHECKING:
    from imstoken.testing import Credential, LocalIMS

pytest_plugins = ["imstoken.testing", "tests.redis_server", "tests.leakscan"]


@pytest.fixture(autouse=True)
def _clean_memory_cache() -> Iterator[None]:
    _slots.clear()
    yield
    _slots.clear()


@pytest.fixture
def ims(local_ims: LocalIMS) -> LocalIMS:
    """The local IMS (short name)."""
    return local_ims


@pytest.fixture
def cred(ims: LocalIMS) -> Credential:
    """One credential registered for both OAuth and JWT, as after Adobe's migration."""
    return ims.add_credential()


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self, start: float | None = None) -> None:
        # Starts at the real time: the local IMS checks JWT ``exp`` against its own clock.
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: An Adobe OAuth Server-to-Server config for respx-mocked tests, and its token URL.
OAUTH_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
OAUTH_CONFIG = {
    "credential": "oauth",
    "client_id": "cid",
    "client_secret": "csecret",
    "org_id": "ABCDEF123456@AdobeOrg",
    "scopes": ["openid"],
}
