"""The benchmark runner, in a tiny mode, so it cannot rot.

Only what does not depend on the machine is asserted: request counts per herd, expired tokens
handed out, one refresh per window crossing. Timings are printed by ``python -m benchmarks``,
never asserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks import _fleet, _herd, _hotpath, _processes, _runner, _stall, _tenants
from benchmarks._subjects import IMS, imstoken_subject

from imstoken.testing import Credential


@pytest.fixture
def bench_ims() -> Iterator[IMS]:
    with IMS(latency=0.01) as ims:
        yield ims


@pytest.fixture
def bench_cred(bench_ims: IMS) -> Credential:
    return bench_ims.add_credential()


def test_threads_herd_counts_one_request(bench_ims: IMS, bench_cred: Credential) -> None:
    subject, _ = imstoken_subject(bench_cred)
    result = _herd.herd_threads(bench_ims, subject, 16, settle=0.01)
    subject.close()
    assert (result.requests, result.served, result.tokens, result.errors) == (1, 16, 1, [])


def test_tasks_herd_counts_one_request(bench_ims: IMS, bench_cred: Credential) -> None:
    subject, _ = imstoken_subject(bench_cred)
    result = _herd.herd_tasks(bench_ims, subject, 200, settle=0.01)
    subject.close()
    assert (result.requests, result.served, result.tokens, result.errors) == (1, 200, 1, [])


def test_mixed_herd_counts_one_request(bench_ims: IMS, bench_cred: Credential) -> None:
    subject, _ = imstoken_subject(bench_cred, "jwt")
    result = _herd.herd_mixed(bench_ims, subject, 4, 50, settle=0.01)
    subject.close()
    assert (result.requests, result.served, result.tokens, result.errors) == (1, 54, 1, [])


@pytest.mark.skipif(
    _processes.shared_cache_problem("file") is not None, reason="no file cache here"
)
def test_file_cache_process_herd_counts_one_request(
    bench_ims: IMS, bench_cred: Credential, tmp_path: Path
) -> None:
    config = bench_cred.config("oauth", cache="file", cache_path=str(tmp_path))
    result = _processes.herd_processes(bench_ims, config, processes=2, threads=2)
    assert (result.requests, result.served, result.tokens, result.errors) == (1, 4, 1, [])


def test_stall_hands_out_no_expired_token_and_refreshes_once_per_window() -> None:
    with IMS(token_lifetime=2, latency=0.01) as ims:
        subject, _ = imstoken_subject(ims.add_credential())
        result = _stall.run_stall(
            ims, subject, lifetime=2.0, duration=2.0, threads=2, tasks=10
        )
        subject.close()
    assert result.calls > 0
    assert result.expired == 0
    assert result.errors == 0
    assert result.crossings >= 1
    assert result.requests == result.crossings


def test_hot_path_cases_run(bench_cred: Credential) -> None:
    subject, provider = imstoken_subject(bench_cred)
    hot = _hotpath.measure(provider, rounds=2, batch=0.0005)
    subject.close()
    assert set(hot.sync) >= {"floor", "get_token", "headers", "flow:none", "flow:imstoken"}
    assert all(len(values) == 2 for values in [*hot.sync.values(), *hot.asynchronous.values()])


def test_runner_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    _runner.main(["--quick", "--only", "hot,herd", "--rounds", "2", "--latency", "0.01"])
    printed = capsys.readouterr().out
    assert "| `get_token()` |" in printed
    assert "1 request (64/64 served" in printed


def test_tenants_rounds_send_no_second_request() -> None:
    found = _tenants.measure((300,), memory_count=100, rounds=1)
    assert found.rounds == [(300, 300, 0)]
    assert found.bytes_per_credential > found.token_bytes
    assert found.build_us > 0 and found.old_build_us > 0


def test_fleet_generations_group_requests() -> None:
    assert _fleet.generations([0.0, 0.1, 5.0, 10.0, 10.05, 10.1], gap=1.0) == [2, 1, 3]


@pytest.mark.skipif(
    _processes.shared_cache_problem("file") is not None, reason="no file cache here"
)
def test_fleet_one_host_sends_one_request_per_generation() -> None:
    with IMS(token_lifetime=2.0) as ims:
        found = _fleet.one_host(ims, processes=2, threads=1, tasks=5, duration=2.5)
    assert (found.most_per_generation, found.expired, found.errors) == (1, 0, [])
    assert found.generations >= 2  # first use and at least one refresh
