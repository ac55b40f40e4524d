"""httpx (sync and async) and requests adapters: headers on every request, one refresh on 401."""

from __future__ import annotations

import asyncio

import httpx
import requests

import imstoken
from imstoken.testing import Credential, LocalIMS

from .api_server import ApiServer, api  # noqa: F401 - fixture


def only_latest(ims: LocalIMS):  # type: ignore[no-untyped-def]
    return lambda token: bool(ims.issued) and token == ims.issued[-1]


def test_httpx_client_sends_token_api_key_and_org(
    ims: LocalIMS, cred: Credential, api: ApiServer
) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    with httpx.Client(auth=provider) as client:
        assert client.get(api.url + "/a").status_code == 200
        assert client.get(api.url + "/b").status_code == 200
    headers = api.seen[-1]
    assert headers["Authorization"] == f"Bearer {ims.issued[-1]}"
    assert headers["x-api-key"] == cred.client_id
    assert headers["x-gw-ims-org-id"] == cred.org_id
    assert ims.count() == 1


def test_httpx_keeps_a_caller_supplied_api_key(
    ims: LocalIMS, cred: Credential, api: ApiServer
) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    with httpx.Client(auth=provider) as client:
        client.get(api.url, headers={"x-api-key": "custom"})
    assert api.seen[-1]["x-api-key"] == "custom"


def test_httpx_refreshes_once_and_retries_once_on_401(
    ims: LocalIMS, cred: Credential, api: ApiServer
) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    provider.get_token()
    ims.issued.append("revoked-at-the-api")  # the API now accepts only a newer token
    api.accept = only_latest(ims)
    with httpx.Client(auth=provider) as client:
        response = client.post(api.url, content=b"payload")
    assert response.status_code == 200
    assert ims.count() == 2  # one refresh
    assert len(api.seen) == 2  # one retry
    assert api.bodies == [b"payload", b"payload"]  # the body was sent again


def test_httpx_gives_up_after_one_retry(ims: LocalIMS, cred: Credential, api: ApiServer) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    api.accept = lambda token: False
    with httpx.Client(auth=provider) as client:
        assert client.get(api.url).status_code == 401
    assert len(api.seen) == 2
    assert ims.count() == 2


def test_concurrent_401s_cause_a_single_refresh(
    ims: LocalIMS, cred: Credential, api: ApiServer
) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    stale = provider.get_token()
    ims.issued.append("revoked")
    api.accept = only_latest(ims)
    for _ in range(5):
        assert provider.refresh_rejected(stale).access_token != stale.access_token
    assert ims.count() == 2


def test_async_httpx_client(ims: LocalIMS, cred: Credential, api: ApiServer) -> None:
    provider = imstoken.from_config(cred.config("jwt"))

    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=provider) as client:
            first = await client.get(api.url)
            ims.issued.append("revoked")
            api.accept = only_latest(ims)
            second = await client.get(api.url)
        await provider.aclose()
        return [first.status_code, second.status_code]

    assert asyncio.run(main()) == [200, 200]
    assert ims.count("jwt") == 2
    assert api.seen[-1]["x-api-key"] == cred.client_id


def test_requests_auth_adds_headers(ims: LocalIMS, cred: Credential, api: ApiServer) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    session = requests.Session()
    session.auth = provider.requests_auth()
    assert session.get(api.url).status_code == 200
    headers = api.seen[-1]
    assert headers["Authorization"] == f"Bearer {ims.issued[-1]}"
    assert headers["x-api-key"] == cred.client_id
    assert headers["x-gw-ims-org-id"] == cred.org_id


def test_requests_refreshes_once_and_resends_once_on_401(
    ims: LocalIMS, cred: Credential, api: ApiServer
) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    provider.get_token()
    ims.issued.append("revoked")
    api.accept = only_latest(ims)
    session = requests.Session()
    session.auth = provider.requests_auth()
    response = session.post(api.url, data=b"payload")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert ims.count() == 2
    assert api.bodies == [b"payload", b"payload"]


def test_requests_gives_up_after_one_retry(ims: LocalIMS, cred: Credential, api: ApiServer) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    api.accept = lambda token: False
    session = requests.Session()
    session.auth = provider.requests_auth()
    assert session.get(api.url).status_code == 401
    assert len(api.seen) == 2
