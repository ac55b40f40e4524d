"""The httpx flow's headers: Authorization always set, the caller's own API headers kept."""

from __future__ import annotations

import httpx
import pytest

import imstoken
from imstoken.testing import Credential


def through_flow(cred: Credential, **headers: str) -> httpx.Headers:
    """The headers of a request after the provider's sync auth flow added its own."""
    provider = imstoken.from_config(cred.config("oauth"))
    with httpx.Client() as client:
        request = client.build_request("GET", "https://api.example.com/", headers=headers)
    flow = provider.sync_auth_flow(request)
    sent = next(flow)
    flow.close()
    return sent.headers


def expected(cred: Credential) -> dict[str, str]:
    return imstoken.from_config(cred.config("oauth")).headers()


def test_a_plain_request_gets_all_three_headers(cred: Credential) -> None:
    headers = through_flow(cred)
    for name, value in expected(cred).items():
        assert headers.get_list(name) == [value]


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Api-Key", "caller's own"), ("x-gw-ims-org-id", "OTHER@AdobeOrg")],
)
def test_a_caller_supplied_api_header_is_kept(cred: Credential, name: str, value: str) -> None:
    headers = through_flow(cred, **{name: value})
    assert headers.get_list(name) == [value]
    assert headers["authorization"] == expected(cred)["Authorization"]


def test_a_stale_authorization_is_replaced_not_doubled(cred: Credential) -> None:
    headers = through_flow(cred, authorization="Bearer stale")
    assert headers.get_list("authorization") == [expected(cred)["Authorization"]]


def test_other_caller_headers_are_untouched(cred: Credential) -> None:
    headers = through_flow(cred, Accept="application/json")
    assert headers["accept"] == "application/json"
    assert headers.get_list("x-api-key") == [cred.client_id]


def test_requests_of_one_shape_do_not_share_a_header_object(cred: Credential) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    sent = []
    with httpx.Client() as client:
        for _ in range(2):
            request = client.build_request("GET", "https://api.example.com/")
            flow = provider.sync_auth_flow(request)
            sent.append(next(flow).headers)
            flow.close()
    sent[0]["x-trace"] = "first only"
    assert "x-trace" not in sent[1]
    assert sent[1]["authorization"] == expected(cred)["Authorization"]


def test_a_new_token_is_not_served_from_the_previous_tokens_headers(cred: Credential) -> None:
    provider = imstoken.from_config(cred.config("oauth"))

    def authorization() -> str:
        with httpx.Client() as client:
            request = client.build_request("GET", "https://api.example.com/")
        flow = provider.sync_auth_flow(request)
        value = next(flow).headers["authorization"]
        flow.close()
        return value

    first = authorization()
    provider.get_token(force_refresh=True)
    assert authorization() != first
    assert authorization() == provider.headers()["Authorization"]
