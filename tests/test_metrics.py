"""OpenTelemetry metrics (``imstoken[otel]``), read with the SDK's in-memory reader."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import imstoken
from imstoken import _metrics, _slots
from imstoken.testing import Credential, LocalIMS

metrics_api = pytest.importorskip("opentelemetry.metrics")
sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
sdk_export = pytest.importorskip("opentelemetry.sdk.metrics.export")

_reader: Any = None


@pytest.fixture(scope="module")
def reader() -> Any:
    """The process's MeterProvider, set once (OpenTelemetry allows one), with our reader."""
    global _reader
    if _reader is None:
        _reader = sdk_export.InMemoryMetricReader()
        metrics_api.set_meter_provider(sdk_metrics.MeterProvider(metric_readers=[_reader]))
    return _reader


Points = dict[frozenset[tuple[str, Any]], float]


def points(reader: Any, name: str) -> Points:
    """A metric's data points: attributes -> value (a sum, a gauge value, a histogram count)."""
    found: Points = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    value = point.count if hasattr(point, "bucket_counts") else point.value
                    found[frozenset(point.attributes.items())] = value
    return found


def delta(before: Points, after: Points) -> Points:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def attrs(**values: str) -> frozenset[tuple[str, Any]]:
    return frozenset((f"imstoken.{k.replace('_', '.')}", v) for k, v in values.items())


@pytest.fixture
def watch(reader: Any) -> Iterator[Any]:
    """Snapshot every metric before the test; ``watch(name)`` is the change since."""
    names = [
        _metrics.REQUESTS,
        _metrics.FETCH_DURATION,
        _metrics.CACHE_HITS,
        _metrics.REJECTED_REFRESHES,
        _metrics.CACHE_OUTAGES,
    ]
    before = {name: points(reader, name) for name in names}
    return lambda name: delta(before[name], points(reader, name))


def test_token_requests_count_by_credential_and_outcome(
    watch: Any, ims: LocalIMS, cred: Credential
) -> None:
    with imstoken.from_config(cred.config("oauth")) as provider:
        provider.get_token()
        ims.fail_next(status=400, body={"error": "invalid_scope"})
        with pytest.raises(imstoken.TokenRequestError):
            provider.get_token(force_refresh=True)
    assert watch(_metrics.REQUESTS) == {
        attrs(credential="oauth", outcome="success"): 1,
        attrs(credential="oauth", outcome="refused"): 1,
    }
    assert watch(_metrics.FETCH_DURATION) == {
        attrs(credential="oauth", outcome="success"): 1,
        attrs(credential="oauth", outcome="refused"): 1,
    }


def test_the_remaining_lifetime_of_the_current_token_is_a_gauge(
    reader: Any, cred: Credential
) -> None:
    with imstoken.from_config(cred.config("oauth")) as provider:
        provider.get_token()
        found = points(reader, _metrics.REMAINING_LIFETIME)
        mine = {k: v for k, v in found.items() if ("imstoken.cache_key", provider.cache_key) in k}
    assert list(mine) == [
        frozenset({("imstoken.credential", "oauth"), ("imstoken.cache_key", provider.cache_key)})
    ]
    (seconds,) = mine.values()
    assert seconds <= 86400
    assert seconds > 86400 - 120  # the local IMS's tokens live a day


def test_shared_cache_hits_are_counted_by_layer(
    watch: Any, tmp_path: Path, cred: Credential
) -> None:
    config = cred.config("oauth", cache="file", cache_path=str(tmp_path))
    with imstoken.from_config(config) as first:
        first.get_token()
    _slots.clear()  # another process: nothing in memory, the token in the file
    with imstoken.from_config(config) as second:
        second.get_token()
    assert watch(_metrics.CACHE_HITS) == {attrs(credential="oauth", cache_layer="file"): 1}
    assert watch(_metrics.REQUESTS) == {attrs(credential="oauth", outcome="success"): 1}


def test_a_401_driven_refresh_is_counted(watch: Any, cred: Credential) -> None:
    answers = iter([401, 200])

    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers))

    with imstoken.from_config(cred.config("oauth")) as provider, httpx.Client(
        auth=provider, transport=httpx.MockTransport(api)
    ) as client:
        assert client.get("https://api.example.test/x").status_code == 200
    assert watch(_metrics.REJECTED_REFRESHES) == {attrs(credential="oauth"): 1}


def test_a_shared_cache_outage_is_counted_once(
    watch: Any, tmp_path: Path, cred: Credential
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    config = cred.config("oauth", cache="file", cache_path=str(not_a_folder))
    with imstoken.from_config(config) as provider:
        provider.get_token()
        provider.get_token(force_refresh=True)
    assert watch(_metrics.CACHE_OUTAGES) == {frozenset({("imstoken.cache.layer", "file")}): 1}


def test_without_opentelemetry_nothing_is_recorded_and_tokens_still_come(
    monkeypatch: pytest.MonkeyPatch, reader: Any, cred: Credential
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if the extra were absent
    monkeypatch.setattr(_metrics, "_loaded", False)
    monkeypatch.setattr(_metrics, "_instruments", None)
    before = points(reader, _metrics.REQUESTS)
    with imstoken.from_config(cred.config("oauth")) as provider:
        provider.get_token()
    assert _metrics._get() is None
    assert points(reader, _metrics.REQUESTS) == before
