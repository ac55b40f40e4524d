"""aepp 0.6.0 takes its tokens from imstoken (run by ``nox -s aepp``).

Skipped where aepp is not installed (the main dev environment).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

aepp = pytest.importorskip("aepp")
from aepp import connector, sandboxes  # noqa: E402

import imstoken  # noqa: E402
from imstoken.integrations import aepp as ims_aepp  # noqa: E402
from imstoken.testing import Credential, LocalIMS  # noqa: E402

from . import scenarios  # noqa: E402
from .fake_api import FakeAdobeApi  # noqa: E402
from .scenarios import KINDS, Driver  # noqa: E402


def make(provider: imstoken.TokenProvider, api: FakeAdobeApi, cred: Credential) -> Any:
    box = sandboxes.Sandboxes(config=ims_aepp.connect_object(provider))
    box.endpoint = api.url + "/data/foundation/sandbox-management"
    return box


def call(box: Any) -> None:
    assert box.getSandboxes() == [{"name": "prod"}]


DRIVER = Driver("aepp", make, call)


@pytest.mark.parametrize("kind", KINDS)
def test_two_objects_one_provider_one_token_request(
    kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
) -> None:
    scenarios.shared_token(DRIVER, kind, ims, api_for(ims, require_org=DRIVER.sends_org))


@pytest.mark.parametrize("kind", KINDS)
def test_token_changes_mid_run_without_a_failed_call(
    kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
) -> None:
    scenarios.token_changes_mid_run(DRIVER, kind, ims, api_for)


@pytest.mark.parametrize("kind", KINDS)
def test_two_credentials_in_one_process_stay_apart(
    kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
) -> None:
    scenarios.two_credentials(DRIVER, kind, ims, api_for(ims, require_org=DRIVER.sends_org))


def test_a_changed_sdk_is_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, cred: Credential
) -> None:
    monkeypatch.delattr(connector.AdobeRequest, "get_oauth_token_and_expiry_for_config")
    provider = imstoken.from_config(cred.config("oauth"))
    with pytest.raises(imstoken.ImsTokenError, match=r"aepp 0\.6\.0 has no .*supports aepp 0\.6"):
        ims_aepp.connect_object(provider)
