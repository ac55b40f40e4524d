"""Many credentials in one process: the slot registry is bounded by memory, never by a count,
and a provider for a known configuration is built without validating it again."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

import imstoken
from imstoken import _factory, _memo, _slots
from imstoken._config import build_settings

START = 1_700_000_000.0
LIFETIME = 3600


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """An in-process token endpoint: counts requests and remembers the forms it got."""

    def __init__(self, lifetime: int = LIFETIME) -> None:
        self.lifetime = lifetime
        self.forms: list[dict[str, str]] = []
        self.numbers = itertools.count()
        self.client = httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.forms.append(form)
        return httpx.Response(200, json={
            "access_token": f"token-{form['client_id']}-{next(self.numbers)}",
            "token_type": "bearer",
            "expires_in": self.lifetime,
        })

    def count(self) -> int:
        return len(self.forms)


def config(index: int, **extra: Any) -> dict[str, Any]:
    return {
        "credential": "oauth",
        "client_id": f"tenant-{index:05d}",
        "client_secret": f"tenant-secret-{index:05d}",
        "org_id": f"TENANT{index:05d}@AdobeOrg",
        "scopes": ["openid", "AdobeID"],
        "ims_host": "https://ims.example.test",
        **extra,
    }


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    yield endpoint
    endpoint.client.close()


@pytest.fixture(autouse=True)
def registry_rules() -> Iterator[None]:
    yield
    _slots.configure(budget=None)
    _slots.clear()


def key_of(index: int) -> str:
    """The cache key of ``config(index)``, without building a provider (that would touch it)."""
    return build_settings(config(index)).cache_key()


def one_round(endpoint: Endpoint, count: int, clock: FakeClock) -> int:
    """A provider per call for ``count`` credentials, dropped at once; the requests it sent."""
    before = endpoint.count()
    for index in range(count):
        imstoken.from_config(config(index), clock=clock, http_client=endpoint.client).get_token()
    return endpoint.count() - before


def test_5000_credentials_with_a_provider_per_call_fetch_once_each(endpoint: Endpoint) -> None:
    clock = FakeClock(START)
    assert one_round(endpoint, 5000, clock) == 5000
    clock.now += 60
    assert one_round(endpoint, 5000, clock) == 0  # every token is still valid: no request
    assert _slots.cached_count() >= 5000


def test_expired_slots_are_dropped_first_and_usable_ones_are_kept(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(START)
    _slots.configure(budget=10**9)
    one_round(endpoint, 300, clock)  # these will have expired
    clock.now += LIFETIME + 1
    fresh = [config(index) for index in range(300, 600)]
    for item in fresh:
        imstoken.from_config(item, clock=clock, http_client=endpoint.client).get_token()
    with caplog.at_level(logging.WARNING, logger="imstoken"):
        _slots.sweep()
    assert _slots.cached_count() == 300  # exactly the usable ones
    # Within budget: nothing valid was dropped, nothing to say.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    before = endpoint.count()
    for item in fresh:
        imstoken.from_config(item, clock=clock, http_client=endpoint.client).get_token()
    assert endpoint.count() == before


def test_past_the_budget_the_least_recently_used_go_with_one_warning(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(START)
    token_chars = len("token-tenant-00000-0000")
    per_slot = _slots.SLOT_BYTES + _slots.ENTRY_BYTES + 2 * token_chars
    _slots.configure(budget=100 * per_slot)
    with caplog.at_level(logging.WARNING, logger="imstoken"):
        one_round(endpoint, 400, clock)  # a sweep per slot past the budget
        _slots.sweep()
    warnings = [r for r in caplog.records if "budget" in r.getMessage()]
    assert len(warnings) == 1
    assert "IMSTOKEN_MEMORY_BUDGET" in warnings[0].getMessage()
    assert 0 < _slots.cached_count() <= 100
    kept = [index for index in range(400) if _slots.holds(key_of(index))]
    assert 0 < len(kept) <= 100
    assert kept == list(range(400 - len(kept), 400))  # the most recently used stay


def test_a_held_provider_keeps_its_token_past_the_budget(endpoint: Endpoint) -> None:
    clock = FakeClock(START)
    _slots.configure(budget=1)
    held = imstoken.from_config(config(0), clock=clock, http_client=endpoint.client)
    token = held.get_token()
    one_round(endpoint, 300, clock)
    _slots.sweep()
    assert held.get_token() is token
    again = imstoken.from_config(config(0), clock=clock, http_client=endpoint.client)
    assert again.get_token() is token  # a new provider finds the held slot: no split


def test_the_budget_comes_from_the_environment(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("IMSTOKEN_MEMORY_BUDGET", "64 KiB")
    clock = FakeClock(START)
    _slots.configure(budget=None)
    with caplog.at_level(logging.WARNING, logger="imstoken"):
        one_round(endpoint, 200, clock)
        _slots.sweep()
    assert _slots.cached_count() * (_slots.SLOT_BYTES + _slots.ENTRY_BYTES) <= 64 * 1024
    assert len([r for r in caplog.records if "budget" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1024", 1024), ("512MiB", 512 * 1024**2), ("1 GB", 10**9), ("2k", 2048)],
)
def test_budget_sizes(text: str, expected: int) -> None:
    assert _slots.parse_budget(text) == expected


def test_a_bad_budget_names_the_variable_not_the_value() -> None:
    with pytest.raises(imstoken.ConfigError, match="IMSTOKEN_MEMORY_BUDGET") as raised:
        _slots.parse_budget("lots-of-bytes")
    assert "lots-of-bytes" not in str(raised.value)


# ---------------------------------------------------------------- the settings memo


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full validations (build_settings calls) made by the factories."""
    calls: list[int] = []
    real = _factory.build_settings

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_factory, "build_settings", counting)
    _memo.memo.clear()
    return calls


def test_a_known_configuration_is_not_validated_again(
    validations: list[int], endpoint: Endpoint
) -> None:
    first = imstoken.from_config(config(1), http_client=endpoint.client)
    second = imstoken.from_config(config(1), http_client=endpoint.client)
    assert len(validations) == 1
    assert second.cache_key == first.cache_key
    assert second.get_token() is first.get_token()


def test_the_memo_gives_settings_equal_to_a_fresh_validation(validations: list[int]) -> None:
    imstoken.from_config(config(2))
    digest = _memo.config_digest(config(2), None, None)
    assert digest is not None
    prepared = _memo.memo.get(digest)
    assert prepared is not None
    assert prepared.settings == build_settings(config(2))
    assert prepared.cache_key == build_settings(config(2)).cache_key()


def test_the_memo_never_crosses_credentials(validations: list[int], endpoint: Endpoint) -> None:
    a = imstoken.from_config(config(3), http_client=endpoint.client)
    b = imstoken.from_config(
        config(3, client_secret="another-secret"), http_client=endpoint.client
    )
    assert len(validations) == 2
    assert a.cache_key == b.cache_key  # same identity: the slot is shared by design
    b.get_token()
    assert endpoint.forms[-1]["client_secret"] == "another-secret"
    c = imstoken.from_config(config(4), http_client=endpoint.client)
    assert c.cache_key != a.cache_key
    c.get_token()
    assert endpoint.forms[-1]["client_id"] == "tenant-00004"


def test_a_mutated_mapping_is_seen(validations: list[int], endpoint: Endpoint) -> None:
    mapping = config(5)
    first = imstoken.from_config(mapping, http_client=endpoint.client)
    mapping["scopes"].append("read_organizations")  # mutated in place, same object
    second = imstoken.from_config(mapping, http_client=endpoint.client)
    assert len(validations) == 2
    assert second.cache_key != first.cache_key
    mapping["client_secret"] = "rotated-secret"
    third = imstoken.from_config(mapping, http_client=endpoint.client)
    third.get_token()
    assert endpoint.forms[-1]["client_secret"] == "rotated-secret"
    assert endpoint.forms[-1]["scope"] == "openid,AdobeID,read_organizations"


def test_a_configuration_naming_a_key_file_is_validated_every_time(
    validations: list[int],
) -> None:
    mapping = config(6, private_key_path="/nonexistent/key.pem")
    assert _memo.config_digest(mapping, None, None) is None
    nested = config(6, oauth={"client_secret": {"file": "/run/secret"}})
    assert _memo.config_digest(nested, None, None) is None


def test_memo_keys_hold_no_secret() -> None:
    secret = "tenant-secret-00007"
    digest = _memo.config_digest(config(7), None, None)
    assert digest is not None and len(digest) == 32
    assert secret.encode() not in digest
    assert _memo.config_digest(config(7, client_secret="x"), None, None) != digest


def test_a_bad_budget_in_the_environment_falls_back_with_a_warning(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("IMSTOKEN_MEMORY_BUDGET", "plenty")
    _slots.configure(budget=None)
    with caplog.at_level(logging.WARNING, logger="imstoken"):
        one_round(endpoint, 3, FakeClock(START))
        _slots.sweep()
    assert _slots.cached_count() == 3
    assert any("IMSTOKEN_MEMORY_BUDGET" in r.getMessage() for r in caplog.records)
    assert not any("plenty" in r.getMessage() for r in caplog.records)
