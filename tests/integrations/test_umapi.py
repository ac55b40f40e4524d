"""umapi-client 3.0.1 takes its tokens from imstoken (run by ``nox -s umapi``).

Skipped where umapi-client is not installed (the main dev environment).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

umapi_client = pytest.importorskip("umapi_client")

import imstoken  # noqa: E402
from imstoken.integrations import umapi as ims_umapi  # noqa: E402
from imstoken.testing import Credential, LocalIMS  # noqa: E402

from . import scenarios  # noqa: E402
from .fake_api import FakeAdobeApi  # noqa: E402
from .scenarios import Driver  # noqa: E402


def make(provider: imstoken.TokenProvider, api: FakeAdobeApi, cred: Credential) -> Any:
    return umapi_client.Connection(
        cred.org_id, auth=ims_umapi.auth(provider), endpoint=api.url + "/v2/usermanagement"
    )


def call(conn: Any) -> None:
    assert conn.query_single("user", ["user@example.com"]) == {"email": "user@example.com"}
    action = umapi_client.UserAction("user@example.com")
    action.update(firstname="Ada")
    assert conn.execute_single(action, immediate=True) == (0, 1, 1)


DRIVER = Driver("umapi", make, call)


class TestScenarios(scenarios.ScenarioTests):
    driver = DRIVER


def test_actions_carry_the_headers_umapis_own_auth_sends(
    ims: LocalIMS, api_for: Callable[..., FakeAdobeApi], cred: Credential
) -> None:
    api = api_for(ims)
    with imstoken.from_config(cred.config("oauth")) as provider:
        call(ims_umapi.connection(provider, endpoint=api.url + "/v2/usermanagement"))
    posts = [c for c in api.calls if c.method == "POST"]
    assert posts
    for sent in posts:
        assert sent.headers["content-type"] == "application/json"
        assert sent.headers["accept"] == "application/json"
        assert sent.headers["x-api-key"] == cred.client_id
        assert sent.headers["x-gw-ims-org-id"] == cred.org_id
        assert sent.path == f"/v2/usermanagement/action/{cred.org_id}"


def test_a_changed_sdk_is_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, cred: Credential
) -> None:
    class Connection:
        def __init__(self, org_id: str, credentials: object) -> None: ...

    monkeypatch.setattr(umapi_client, "Connection", Connection)
    provider = imstoken.from_config(cred.config("oauth"))
    with pytest.raises(
        imstoken.ImsTokenError, match=r"umapi-client 3\.0\.1 has no .*auth.*supports umapi-client 3"
    ):
        ims_umapi.auth(provider)
