"""aepp 0.6.0 takes its tokens from imstoken (run by ``nox -s aepp``).

Skipped where aepp is not installed (the main dev environment).
"""

from __future__ import annotations

from typing import Any

import pytest

aepp = pytest.importorskip("aepp")
from aepp import connector, sandboxes  # noqa: E402

import imstoken  # noqa: E402
from imstoken.integrations import aepp as ims_aepp  # noqa: E402
from imstoken.testing import Credential  # noqa: E402

from . import scenarios  # noqa: E402
from .fake_api import FakeAdobeApi  # noqa: E402
from .scenarios import Driver  # noqa: E402


def make(provider: imstoken.TokenProvider, api: FakeAdobeApi, cred: Credential) -> Any:
    box = sandboxes.Sandboxes(config=ims_aepp.connect_object(provider))
    box.endpoint = api.url + "/data/foundation/sandbox-management"
    return box


def call(box: Any) -> None:
    assert box.getSandboxes() == [{"name": "prod"}]


DRIVER = Driver("aepp", make, call)


class TestScenarios(scenarios.ScenarioTests):
    driver = DRIVER


def test_a_changed_sdk_is_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, cred: Credential
) -> None:
    monkeypatch.delattr(connector.AdobeRequest, "get_oauth_token_and_expiry_for_config")
    provider = imstoken.from_config(cred.config("oauth"))
    with pytest.raises(imstoken.ImsTokenError, match=r"aepp 0\.6\.0 has no .*supports aepp 0\.6"):
        ims_aepp.connect_object(provider)
