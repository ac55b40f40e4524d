"""The httpx flow's header fast path gives exactly what httpx's public header API gives."""

from __future__ import annotations

import time

import httpx
import pytest

import imstoken
from imstoken import _provider
from imstoken._policy import Entry, RefreshPolicy
from imstoken._token import Token
from imstoken.testing import Credential

API_HEADERS = {"x-api-key": "client-1", "x-gw-ims-org-id": "ORG@AdobeOrg"}


def entry(**api_headers: str) -> Entry:
    token = Token("at-123", "bearer", time.time() + 3600, "oauth")
    headers = {"Authorization": "Bearer at-123", **(api_headers or API_HEADERS)}
    return RefreshPolicy().entry(token, time.time(), headers)


def applied(
    cred: Credential, request: httpx.Request, value: Entry, monkeypatch: pytest.MonkeyPatch,
    *, fast: bool,
) -> list[tuple[bytes, bytes]]:
    provider = imstoken.from_config(cred.config("oauth"))
    monkeypatch.setattr(_provider, "_EXTEND_HTTPX_HEADERS", fast)
    provider._apply(request, value)
    return request.headers.raw


def client_request(**headers: str) -> httpx.Request:
    with httpx.Client() as client:
        return client.build_request("GET", "https://api.example.com/", headers=headers)


def test_the_installed_httpx_gets_the_fast_path() -> None:
    assert _provider._can_extend_httpx_headers()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Api-Key": "caller's own"},
        {"authorization": "Bearer stale"},
        {"x-gw-ims-org-id": "OTHER@AdobeOrg", "Accept": "application/json"},
    ],
    ids=["plain", "caller-api-key", "stale-authorization", "caller-org"],
)
def test_fast_path_matches_the_public_header_api(
    cred: Credential, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str]
) -> None:
    fast = applied(cred, client_request(**headers), entry(), monkeypatch, fast=True)
    slow = applied(cred, client_request(**headers), entry(), monkeypatch, fast=False)
    assert fast == slow
    assert httpx.Headers(fast).get_list("authorization") == ["Bearer at-123"]


def test_a_caller_supplied_api_key_is_kept(
    cred: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = applied(cred, client_request(**{"X-API-KEY": "mine"}), entry(), monkeypatch, fast=True)
    assert httpx.Headers(raw).get_list("x-api-key") == ["mine"]


def test_non_ascii_values_are_left_to_httpx(
    cred: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = entry(**{"x-api-key": "clé"})
    assert value.wire_headers is None
    outcomes = []
    for fast in (True, False):
        try:
            outcomes.append(applied(cred, client_request(), value, monkeypatch, fast=fast))
        except UnicodeEncodeError as error:  # httpx keeps request headers ASCII
            outcomes.append(type(error))
    assert outcomes[0] == outcomes[1]
