"""The three runs every SDK integration must pass, for JWT and OAuth alike.

A ``Driver`` says how to build one SDK object over a provider and how to make one API call
with it; the scenarios do the rest against the local IMS and the fake API. Each run's figures
(API calls, token requests at IMS, failed calls) are appended as JSON lines to the file
``IMSTOKEN_SDK_FIGURES`` names, when it is set (the nox sessions print them).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import imstoken
from imstoken.testing import Credential, LocalIMS

from .fake_api import FakeAdobeApi

KINDS = ["jwt", "oauth"]
CALLS_PER_OBJECT = 3


@dataclass
class Driver:
    sdk: str
    make: Callable[[imstoken.TokenProvider, FakeAdobeApi, Credential], Any]
    call: Callable[[Any], None]
    sends_org: bool = True


class StepClock:
    """A wall clock that starts at the real time and moves only when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def record(driver: Driver, kind: str, scenario: str, ims: LocalIMS, api: FakeAdobeApi) -> None:
    path = os.environ.get("IMSTOKEN_SDK_FIGURES")
    if not path:
        return
    figures = {
        "sdk": driver.sdk,
        "credential": kind,
        "scenario": scenario,
        "api_calls": len(api.authenticated()),
        "ims_requests": ims.count(kind),
        "failed_calls": len(api.failures()),
        "distinct_tokens": len(api.tokens()),
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(figures) + "\n")


def assert_no_failures(api: FakeAdobeApi) -> None:
    problems = [(c.method, c.path, c.problem) for c in api.failures()]
    assert problems == []


def shared_token(driver: Driver, kind: str, ims: LocalIMS, api: FakeAdobeApi) -> None:
    """Several calls over two SDK objects: one token request at IMS."""
    cred = ims.add_credential()
    with imstoken.from_config(cred.config(kind)) as provider:
        objects = [driver.make(provider, api, cred) for _ in range(2)]
        for _ in range(CALLS_PER_OBJECT):
            for sdk_object in objects:
                driver.call(sdk_object)
    assert_no_failures(api)
    assert len(api.authenticated()) >= 2 * CALLS_PER_OBJECT
    assert ims.count(kind) == 1
    assert api.tokens() == ims.issued
    record(driver, kind, "two objects, one provider", ims, api)


def token_changes_mid_run(
    driver: Driver, kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
) -> None:
    """A token lifetime passes mid-run: the SDK sends the new token, no call fails."""
    lifetime = 600.0
    clock = StepClock()
    ims.token_lifetime = lifetime
    api = api_for(ims, clock=clock, lifetime=lifetime, require_org=driver.sends_org)
    cred = ims.add_credential()
    with imstoken.from_config(cred.config(kind), clock=clock) as provider:
        objects = [driver.make(provider, api, cred) for _ in range(2)]
        for sdk_object in objects:
            driver.call(sdk_object)
        clock.advance(lifetime + 100)  # the first token is dead for the fake API too
        for _ in range(2):
            for sdk_object in objects:
                driver.call(sdk_object)
    assert_no_failures(api)
    assert ims.count(kind) == 2
    assert api.tokens() == ims.issued
    record(driver, kind, "token expires mid-run", ims, api)


def two_credentials(driver: Driver, kind: str, ims: LocalIMS, api: FakeAdobeApi) -> None:
    """Two credentials in one process: each SDK object sends its own credential's token."""
    first, second = ims.add_credential(), ims.add_credential()
    with (
        imstoken.from_config(first.config(kind)) as one,
        imstoken.from_config(second.config(kind)) as two,
    ):
        objects = [driver.make(one, api, first), driver.make(two, api, second)]
        for _ in range(CALLS_PER_OBJECT):
            for sdk_object in objects:
                driver.call(sdk_object)
    assert_no_failures(api)  # the fake checks each token against its x-api-key and org
    assert api.clients() == {first.client_id, second.client_id}
    assert ims.count(kind) == 2
    record(driver, kind, "two credentials", ims, api)


class ScenarioTests:
    """The three runs as pytest tests, for JWT and OAuth: a test module subclasses this as
    ``TestScenarios`` with its ``driver``."""

    driver: Driver

    @pytest.mark.parametrize("kind", KINDS)
    def test_two_objects_one_provider_one_token_request(
        self, kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
    ) -> None:
        api = api_for(ims, require_org=self.driver.sends_org)
        shared_token(self.driver, kind, ims, api)

    @pytest.mark.parametrize("kind", KINDS)
    def test_token_changes_mid_run_without_a_failed_call(
        self, kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
    ) -> None:
        token_changes_mid_run(self.driver, kind, ims, api_for)

    @pytest.mark.parametrize("kind", KINDS)
    def test_two_credentials_in_one_process_stay_apart(
        self, kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
    ) -> None:
        api = api_for(ims, require_org=self.driver.sends_org)
        two_credentials(self.driver, kind, ims, api)
