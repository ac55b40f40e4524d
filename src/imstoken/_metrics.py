"""OpenTelemetry metrics (the ``imstoken[otel]`` extra), through ``opentelemetry-api`` only.

The application brings the SDK and an exporter. Without the extra, every function here returns
at once; with it but no ``MeterProvider`` configured, the API's no-op instruments take the calls.
Nothing here runs on the hot path (a fresh token from memory): only fetches, shared-cache reads,
401-driven refreshes and shared-cache outages record. Memory hits are therefore not counted
per call (see docs/observability.md); the remaining-lifetime gauge is computed when a reader
collects, from the expiry noted at each fetch.

A leaf module: it imports nothing from imstoken, so every layer may record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

METER_NAME = "imstoken"
REQUESTS = "imstoken.token.requests"
FETCH_DURATION = "imstoken.token.fetch.duration"
CACHE_HITS = "imstoken.cache.hits"
REMAINING_LIFETIME = "imstoken.token.remaining_lifetime"
REJECTED_REFRESHES = "imstoken.token.rejected_refreshes"
CACHE_OUTAGES = "imstoken.cache.outages"

# Histogram buckets for a fetch: a loopback answer takes milliseconds, a retried one seconds.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Instruments:
    __slots__ = ("fetch_duration", "hits", "outages", "rejected", "requests")

    def __init__(self, meter: Any) -> None:
        self.requests = meter.create_counter(
            REQUESTS, unit="{request}", description="HTTP requests sent to the token endpoint"
        )
        self.fetch_duration = self._histogram(meter)
        self.hits = meter.create_counter(
            CACHE_HITS, unit="{hit}", description="Tokens served from a shared cache"
        )
        self.rejected = meter.create_counter(
            REJECTED_REFRESHES,
            unit="{refresh}",
            description="Token replacements asked for because an API answered 401",
        )
        self.outages = meter.create_counter(
            CACHE_OUTAGES, unit="{outage}", description="A shared cache became unavailable"
        )
        meter.create_observable_gauge(
            REMAINING_LIFETIME,
            callbacks=[_observe_lifetimes],
            unit="s",
            description="Seconds until the current token of each credential expires",
        )

    @staticmethod
    def _histogram(meter: Any) -> Any:
        options = {
            "unit": "s",
            "description": "One token fetch, retries included, until a token or an error",
        }
        try:
            return meter.create_histogram(
                FETCH_DURATION, explicit_bucket_boundaries_advisory=_DURATION_BUCKETS, **options
            )
        except TypeError:  # an opentelemetry-api without advisory buckets
            return meter.create_histogram(FETCH_DURATION, **options)


_lock = threading.Lock()
_loaded = False
_instruments: _Instruments | None = None
# (credential kind, cache key) -> expiry of the newest token seen, for the gauge's callback.
_expiries: dict[tuple[str, str], float] = {}


def _get() -> _Instruments | None:
    global _loaded, _instruments
    if _loaded:
        return _instruments
    with _lock:
        if not _loaded:
            try:
                from opentelemetry import metrics
            except ImportError:
                _instruments = None
            else:
                from importlib.metadata import PackageNotFoundError, version

                try:
                    own_version = version("imstoken")
                except PackageNotFoundError:  # pragma: no cover - run from a source tree
                    own_version = ""
                _instruments = _Instruments(metrics.get_meter(METER_NAME, own_version))
            _loaded = True
    return _instruments


def _observe_lifetimes(options: Any) -> Iterable[Any]:
    from opentelemetry.metrics import Observation

    now = time.time()
    with _lock:
        items = list(_expiries.items())
        for key, expires_at in items:
            if expires_at <= now:
                del _expiries[key]
    return [
        Observation(expires_at - now, {"imstoken.credential": kind, "imstoken.cache_key": key})
        for (kind, key), expires_at in items
        if expires_at > now
    ]


def token_request(credential: str, outcome: str) -> None:
    """One HTTP request to the token endpoint and how it ended."""
    instruments = _get()
    if instruments is not None:
        attributes = {"imstoken.credential": credential, "imstoken.outcome": outcome}
        instruments.requests.add(1, attributes)


def fetch_finished(credential: str, outcome: str, seconds: float) -> None:
    """One fetch (all its attempts) took ``seconds`` and ended in ``outcome``."""
    instruments = _get()
    if instruments is not None:
        attributes = {"imstoken.credential": credential, "imstoken.outcome": outcome}
        instruments.fetch_duration.record(seconds, attributes)


def token_obtained(credential: str, cache_key: str, expires_at: float) -> None:
    """A token for ``cache_key`` is now current (fetched, or read from a shared cache)."""
    if _get() is None:
        return
    key = (credential, cache_key)
    with _lock:
        if expires_at > _expiries.get(key, 0.0):
            _expiries[key] = expires_at


def shared_hit(credential: str, layer: str) -> None:
    """A token was served from a shared cache (``layer``: ``file`` or ``redis``)."""
    instruments = _get()
    if instruments is not None:
        attributes = {"imstoken.credential": credential, "imstoken.cache.layer": layer}
        instruments.hits.add(1, attributes)


def rejected_refresh(credential: str) -> None:
    """An API answered 401 and a newer token was asked for."""
    instruments = _get()
    if instruments is not None:
        instruments.rejected.add(1, {"imstoken.credential": credential})


def cache_outage(store: str) -> None:
    """A shared cache (named like ``file cache`` or ``Redis at host``) became unavailable."""
    instruments = _get()
    if instruments is not None:
        instruments.outages.add(1, {"imstoken.cache.layer": cache_layer_of_name(store)})


def cache_layer_of_name(name: str) -> str:
    """``file``, ``redis`` or ``shared``: the layer a cache's class or description names."""
    lowered = name.lower()
    if lowered.startswith("file"):
        return "file"
    if "redis" in lowered:
        return "redis"
    if "file" in lowered:
        return "file"
    return "shared"


def cache_layer(shared: object) -> str:
    """The layer of a shared-cache object (a sealing wrapper is looked through)."""
    inner = getattr(shared, "store_backend", shared)
    return cache_layer_of_name(type(inner).__name__)


def outcome_of(error: BaseException | None) -> str:
    """A short outcome name: ``success``, or the kind of the error."""
    if error is None:
        return "success"
    names = {
        "TokenRequestRefused": "refused",
        "InvalidTokenResponse": "invalid_response",
        "TokenEndpointUnreachable": "unreachable",
        "TokenRequestTimedOut": "timeout",
    }
    return names.get(type(error).__name__, "error")
