"""aanalytics2 0.5.5.post3 takes its tokens from imstoken (run by ``nox -s aanalytics2``).

Skipped where aanalytics2 is not installed (the main dev environment).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

aanalytics2 = pytest.importorskip("aanalytics2")
from aanalytics2 import connector  # noqa: E402

import imstoken  # noqa: E402
from imstoken.integrations import aanalytics2 as ims_aa  # noqa: E402
from imstoken.testing import Credential, LocalIMS  # noqa: E402

from . import scenarios  # noqa: E402
from .fake_api import FakeAdobeApi  # noqa: E402
from .scenarios import Driver  # noqa: E402


def make(provider: imstoken.TokenProvider, api: FakeAdobeApi, cred: Credential) -> Any:
    analytics = aanalytics2.Analytics("company", config=ims_aa.config(provider))
    analytics.endpoint_company = api.url + "/api/company"
    return analytics


def call(analytics: Any) -> None:
    assert analytics.getUsers(format="raw") == []


DRIVER = Driver("aanalytics2", make, call)


class TestScenarios(scenarios.ScenarioTests):
    driver = DRIVER


def test_other_configs_keep_the_sdks_own_getter(ims: LocalIMS, cred: Credential) -> None:
    ims_aa.install()
    plain = {
        "client_id": cred.client_id,
        "secret": cred.client_secret,
        "scopes": ",".join(cred.scopes),
        "oauthTokenEndpointV2": ims.url + "/ims/token/v3",
    }
    answer = connector.get_oauth_token_and_expiry_for_config(config=plain)
    assert answer["token"] == ims.issued[-1]


def test_login_unpacking_the_config_works_too(
    ims: LocalIMS, api_for: Callable[..., FakeAdobeApi], cred: Credential
) -> None:
    api = api_for(ims)
    with imstoken.from_config(cred.config("oauth")) as provider:
        login = aanalytics2.Login(**ims_aa.config(provider))
        analytics = login.createAnalyticsConnection("company")
        analytics.endpoint_company = api.url + "/api/company"
        call(analytics)
    assert api.failures() == []
    assert ims.count() == 1


def test_a_changed_sdk_is_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, cred: Credential
) -> None:
    monkeypatch.delattr(connector, "get_oauth_token_and_expiry_for_config")
    provider = imstoken.from_config(cred.config("oauth"))
    with pytest.raises(
        imstoken.ImsTokenError, match=r"aanalytics2 0\.5\.5\.post3 has no .*supports aanalytics2"
    ):
        ims_aa.config(provider)
