"""Rows of issue 13's sections: ``tenants`` (many credentials), ``fleet`` (many processes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _fleet, _processes, _tenants
from ._report import DASH, TIMES, Row, skipped, times, us
from ._subjects import IMS


def _n(value: int) -> str:
    return f"{value:,}"


def tenants(settings: Any, results: Any, progress: Callable[[str], None]) -> None:
    """Requests per round, bytes per cached credential, µs to build a known provider."""
    counts = settings.tenant_counts
    progress(f"tenants ({', '.join(_n(c) for c in counts)} credentials, a provider per call)")
    found = _tenants.measure(counts, memory_count=min(counts[0], 5000), rounds=settings.rounds)
    section = "many credentials in one process (a provider per call, two rounds)"
    old_count, old_first, old_second = found.old_rounds
    for count, first, second in found.rounds:
        old = count == old_count
        results.rows += [
            Row(section, f"round 1: {_n(count)} credentials, requests",
                f"{_n(old_first)} old" if old else DASH, _n(first), DASH, _n(count),
                first == count),
            Row(section, f"round 2: the same {_n(count)}, tokens still valid, requests",
                f"{_n(old_second)} old (LRU of 4,096)" if old else DASH, _n(second), DASH, "0",
                second == 0),
        ]
    beyond = found.bytes_per_credential - found.token_bytes
    ratio = found.build_us / found.old_build_us if found.old_build_us else float("nan")
    results.rows += [
        Row(section, "bytes per cached credential beyond the token string (tracemalloc)",
            value=f"{beyond:,.0f} B (+ {found.token_bytes:,.0f} B token)", target="≤ 3 KiB",
            ok=beyond <= 3072,
            note="includes the Authorization header, which holds a second copy of the token"),
        Row(section, "… the settings memo, per remembered configuration (4,096 at most)",
            value=f"{found.memo_entry_bytes:,.0f} B"),
        Row(section, "build a provider for a known credential (CPU time)",
            us(found.old_build_us) + " old", us(found.build_us), times(ratio), "≤ 20 µs",
            found.build_us <= 20.0),
    ]
    results.raw["tenants"] = vars(found)


def fleet(settings: Any, results: Any, progress: Callable[[str], None]) -> None:
    """One host with a file cache; three hosts with one Redis (and without, for contrast)."""
    lifetime, duration = settings.fleet_lifetime, settings.fleet_duration
    n, t, k = settings.fleet_processes, settings.fleet_threads, settings.fleet_tasks
    section = (
        f"fleet ({lifetime:g} s tokens on the local IMS, callers in a loop for {duration:g} s)"
    )
    target = "1 per generation"
    problem = _processes.shared_cache_problem("file")
    figure = f"one host, file cache: {n} processes {TIMES} ({t} threads + {k} tasks)"
    if problem:
        results.rows.append(skipped(section, figure, target, problem))
        return
    with IMS(token_lifetime=lifetime) as ims:
        progress(f"fleet: one host, {n} processes")
        found = _fleet.one_host(ims, n, t, k, duration)
        results.rows.append(_row(section, figure, found))
        results.raw["fleet_one_host"] = vars(found)
        per = settings.fleet_per_host
        figure = f"three hosts, one Redis: 3 {TIMES} {per} processes {TIMES} ({t} + {k})"
        problem = _processes.shared_cache_problem("redis")
        if problem:
            results.rows.append(skipped(section, figure, target, problem))
        else:
            progress("fleet: three hosts, one Redis")
            with _processes.redis_server() as url:
                found = _fleet.three_hosts(ims, per, t, k, duration, url)
            results.rows.append(_row(section, figure, found))
            results.raw["fleet_three_hosts_redis"] = vars(found)
        progress("fleet: three hosts, file caches only (contrast)")
        found = _fleet.three_hosts(ims, per, t, k, duration, None)
        results.rows.append(Row(
            section, "… the same three hosts with their own file caches only (contrast)",
            value=_value(found), target="3 per generation",
            ok=None, note=_errors(found),
        ))
        results.raw["fleet_three_hosts_files"] = vars(found)


def _value(found: _fleet.FleetResult) -> str:
    return (
        f"{found.requests} requests in {found.generations} generations "
        f"(most in one: {found.most_per_generation}); {found.calls:,} calls, "
        f"{found.expired} expired"
    )


def _errors(found: _fleet.FleetResult) -> str:
    return f"errors: {found.errors[:3]}" if found.errors else ""


def _row(section: str, figure: str, found: _fleet.FleetResult) -> Row:
    return Row(section, figure, value=_value(found), target="1 per generation", ok=found.ok,
               note=_errors(found))
