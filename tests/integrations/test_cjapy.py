"""cjapy 0.3.1 takes its tokens from imstoken (run by ``nox -s cjapy``).

Skipped where cjapy is not installed (the main dev environment).
"""

from __future__ import annotations

from typing import Any

import pytest

cjapy = pytest.importorskip("cjapy")
from cjapy import connector  # noqa: E402

import imstoken  # noqa: E402
from imstoken.integrations import cjapy as ims_cjapy  # noqa: E402
from imstoken.testing import Credential, LocalIMS  # noqa: E402

from . import scenarios  # noqa: E402
from .fake_api import FakeAdobeApi  # noqa: E402
from .scenarios import Driver  # noqa: E402


def make(provider: imstoken.TokenProvider, api: FakeAdobeApi, cred: Credential) -> Any:
    cja = cjapy.CJA(config_object=ims_cjapy.config(provider))
    cja.endpoint = api.url
    return cja


def call(cja: Any) -> None:
    assert cja.getCurrentUser()["result"] == "success"


DRIVER = Driver("cjapy", make, call)


class TestScenarios(scenarios.ScenarioTests):
    driver = DRIVER


def test_other_configs_keep_the_sdks_own_getter(ims: LocalIMS, cred: Credential) -> None:
    ims_cjapy.install()
    plain = {
        "client_id": cred.client_id,
        "secret": cred.client_secret,
        "scopes": ",".join(cred.scopes),
        "oauthTokenEndpoint": ims.url + "/ims/token/v3",
    }
    answer = connector.AdobeRequest.get_oauth_token_and_expiry_for_config(None, config=plain)
    assert answer["token"] == ims.issued[-1]
    assert answer["expiry"] == int(ims.token_lifetime)


def test_a_changed_sdk_is_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, cred: Credential
) -> None:
    monkeypatch.delattr(connector.AdobeRequest, "get_oauth_token_and_expiry_for_config")
    provider = imstoken.from_config(cred.config("oauth"))
    with pytest.raises(imstoken.ImsTokenError, match=r"cjapy 0\.3\.1 has no .*supports cjapy 0\.3"):
        ims_cjapy.config(provider)
