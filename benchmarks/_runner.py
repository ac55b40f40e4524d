"""``python -m benchmarks``: run every figure of issue 6 and print the tables."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import imstoken
from imstoken.testing import clear_memory_cache

from . import _herd, _hotpath, _processes, _stall, _startup
from ._report import DASH, TIMES, Row, ms, render, render_peers, skipped, times, us
from ._sections13 import fleet, tenants
from ._subjects import IMS, Subject, imstoken_subject
from ._timing import difference_median, median, ratio_median

SECTIONS = ("hot", "herd", "processes", "stall", "cold", "import", "tenants", "fleet")


@dataclass
class Settings:
    """How long and how hard to measure."""

    quick: bool
    latency: float
    peers: bool
    rounds: int
    batch: float
    threads: int = 64
    tasks: int = 1000
    mix_threads: int = 32
    mix_tasks: int = 500
    file_processes: int = 8
    redis_processes: int = 4
    process_threads: int = 4
    stall_lifetime: float = 4.0
    stall_duration: float = 6.0
    stall_threads: int = 8
    stall_tasks: int = 100
    startup_rounds: int = 9
    tenant_counts: tuple[int, ...] = (5000, 100_000)
    fleet_processes: int = 16
    fleet_threads: int = 8
    fleet_tasks: int = 200
    fleet_per_host: int = 4
    fleet_lifetime: float = 6.0
    fleet_duration: float = 14.0
    sections: tuple[str, ...] = SECTIONS

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        settings = cls(
            quick=args.quick,
            latency=args.latency,
            peers=args.peers,
            rounds=args.rounds or (9 if args.quick else 41),
            batch=0.002 if args.quick else 0.004,
            sections=tuple(args.only.split(",")) if args.only else SECTIONS,
        )
        if args.quick:
            settings.process_threads = 2
            settings.stall_lifetime = 2.0
            settings.stall_duration = 2.5
            settings.startup_rounds = 3
            settings.tenant_counts = (5000, 10_000)
            settings.fleet_processes = 4
            settings.fleet_threads = 2
            settings.fleet_tasks = 20
            settings.fleet_per_host = 2
            settings.fleet_lifetime = 3.0
            settings.fleet_duration = 5.0
        return settings


def _progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


@dataclass
class Results:
    """Everything measured, for the tables and ``--json``."""

    rows: list[Row] = field(default_factory=list)
    peer_rows: list[tuple[str, list[str]]] = field(default_factory=list)
    peer_notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- sections


def hot_path(
    settings: Settings, ims: IMS, results: Results, peers: list[Any]
) -> _hotpath.HotPath:
    _progress("hot path")
    cred = ims.add_credential()
    subject, provider = imstoken_subject(cred)
    extra_sync: dict[str, Callable[[], object]] = {}
    extra_async: dict[str, Any] = {}
    for peer in peers:
        if peer.hot is not None:
            extra_sync[peer.name] = peer.hot
        if peer.ahot is not None:
            extra_async[peer.name] = peer.ahot
        if peer.auth is not None:
            extra_sync[peer.name] = _hotpath.sync_flow(peer.auth)
            extra_async[peer.name] = _hotpath.async_flow(peer.auth)
    hot = _hotpath.measure(
        provider,
        rounds=settings.rounds,
        batch=settings.batch,
        extra_sync=extra_sync,
        extra_async=extra_async,
    )
    subject.close()
    s, a = hot.sync, hot.asynchronous
    floor, afloor = median(s["floor"]), median(a["floor"])
    section = "hot path (fresh token)"
    get_ratio = ratio_median(s["get_token"], s["floor"])
    aget_ratio = ratio_median(a["aget_token"], a["floor"])
    headers = median(s["headers"])
    aheaders = median(a["aheaders"])
    flow_added = difference_median(s["flow:imstoken"], s["flow:none"])
    aflow_added = difference_median(a["flow:imstoken"], a["flow:none"])
    results.rows += [
        Row(section, "`get_token()`", us(floor), us(median(s["get_token"])), times(get_ratio),
            f"≤ 2.5{TIMES} floor", get_ratio <= 2.5),
        Row(section, "`await aget_token()`", us(afloor), us(median(a["aget_token"])),
            times(aget_ratio), f"≤ 2{TIMES} async floor", aget_ratio <= 2.0),
        Row(section, "`headers()`", us(floor), us(headers),
            times(ratio_median(s["headers"], s["floor"])), "< 1.5 µs", headers < 1.5),
        Row(section, "`await aheaders()`", us(afloor), us(aheaders),
            times(ratio_median(a["aheaders"], a["floor"])), DASH, None),
        Row(section, "httpx auth flow, added per request (sync)",
            us(median(s["flow:none"])) + " no-op flow", "+" + us(flow_added),
            times(ratio_median(s["flow:imstoken"], s["flow:none"])), "< 5 µs",
            flow_added < 5.0),
        Row(section, "httpx auth flow, added per request (async)",
            us(median(a["flow:none"])) + " no-op flow", "+" + us(aflow_added),
            times(ratio_median(a["flow:imstoken"], a["flow:none"])), "< 5 µs",
            aflow_added < 5.0),
    ]
    results.raw["hot_path"] = {"sync": s, "async": a}
    return hot


def _herd_row(section: str, figure: str, result: _herd.HerdResult) -> Row:
    ok = (
        result.requests == 1
        and result.served == result.callers
        and result.tokens == 1
        and not result.errors
    )
    value = (
        f"{result.requests} request{'s' if result.requests != 1 else ''} "
        f"({result.served}/{result.callers} served, {ms(result.seconds)})"
    )
    note = f"errors: {result.errors[:3]}" if result.errors else ""
    return Row(section, figure, value=value, target="1 request", ok=ok, note=note)


def herds(settings: Settings, ims: IMS, results: Results) -> dict[str, _herd.HerdResult]:
    _progress("herds")
    section = "herd (cold cache, endpoint held until all callers wait)"
    cred = ims.add_credential()
    found: dict[str, _herd.HerdResult] = {}

    subject, _ = imstoken_subject(cred)
    found["threads"] = _herd.herd_threads(ims, subject, settings.threads)
    subject.close()
    subject, _ = imstoken_subject(cred)
    found["tasks"] = _herd.herd_tasks(ims, subject, settings.tasks)
    subject.close()
    subject, _ = imstoken_subject(cred, "jwt")
    found["mixed"] = _herd.herd_mixed(ims, subject, settings.mix_threads, settings.mix_tasks)
    subject.close()
    clear_memory_cache()
    results.rows += [
        _herd_row(section, f"{settings.threads} threads", found["threads"]),
        _herd_row(section, f"{settings.tasks} asyncio tasks", found["tasks"]),
        _herd_row(
            section,
            f"{settings.mix_threads} threads + {settings.mix_tasks} tasks, one provider (JWT)",
            found["mixed"],
        ),
    ]
    results.raw["herd"] = {name: vars(result) for name, result in found.items()}
    return found


def process_herds(settings: Settings, ims: IMS, results: Results) -> None:
    section = "herd across processes (shared cache)"
    cred = ims.add_credential()
    n, t = settings.file_processes, settings.process_threads
    figure = f"file cache: {n} processes {TIMES} {t} threads"
    problem = _processes.shared_cache_problem("file")
    if problem:
        results.rows.append(skipped(section, figure, "1 request", problem))
    else:
        _progress("file cache herd")
        with tempfile.TemporaryDirectory(prefix="imstoken-bench-") as folder:
            config = cred.config("oauth", cache="file", cache_path=folder)
            try:
                result = _processes.herd_processes(ims, config, n, t)
                results.rows.append(_herd_row(section, figure, result))
                results.raw["herd_file"] = vars(result)
            except Exception as error:
                results.rows.append(Row(section, figure, target="1 request", ok=False,
                                        note=f"failed: {error!r}"))
    n = settings.redis_processes
    figure = f"Redis: {n} processes {TIMES} {t} threads"
    problem = _processes.shared_cache_problem("redis")
    if problem:
        results.rows.append(skipped(section, figure, "1 request", problem))
        return
    _progress("Redis herd")
    try:
        with _processes.redis_server() as url:
            result = _processes.herd_processes(ims, cred.config("oauth", cache=url), n, t)
        results.rows.append(_herd_row(section, figure, result))
        results.raw["herd_redis"] = vars(result)
    except Exception as error:
        results.rows.append(Row(section, figure, target="1 request", ok=False,
                                note=f"failed: {error!r}"))


def _stall_run(settings: Settings, lifetime: float) -> _stall.StallResult:
    with IMS(token_lifetime=lifetime, latency=settings.latency) as ims:
        subject, _ = imstoken_subject(ims.add_credential())
        try:
            return _stall.run_stall(
                ims,
                subject,
                lifetime=lifetime,
                duration=settings.stall_duration,
                threads=settings.stall_threads,
                tasks=settings.stall_tasks,
            )
        finally:
            subject.close()
            clear_memory_cache()


def stall(settings: Settings, results: Results) -> _stall.StallResult:
    lifetime = settings.stall_lifetime
    # The floor: the same callers while the token stays fresh (no refresh at all), so what
    # the machine and the harness cost is not charged to the refresh.
    _progress(f"stall floor ({settings.stall_duration:g} s, no refresh)")
    floor = _stall_run(settings, 86400.0)
    _progress(f"stall ({settings.stall_duration:g} s, real time)")
    result = _stall_run(settings, lifetime)
    section = (
        f"stall ({settings.stall_threads} threads + {settings.stall_tasks} tasks in a loop, "
        f"{lifetime:g} s tokens, {ms(settings.latency)} endpoint, {settings.stall_duration:g} s)"
    )
    results.rows += _stall_rows(section, result, floor)
    results.raw["stall"] = {**vars(result), "requests_per_crossing": result.requests_per_crossing}
    results.raw["stall_floor"] = vars(floor)
    return result


def _stall_rows(
    section: str, result: _stall.StallResult, floor: _stall.StallResult
) -> list[Row]:
    per = result.requests_per_crossing
    no_refresh = " no refresh"
    return [
        Row(section, "worst call latency", ms(floor.worst) + no_refresh,
            f"{ms(result.worst)} (threads {ms(result.worst_thread)}, tasks "
            f"{ms(result.worst_task)})", f"+{ms(max(result.worst - floor.worst, 0.0))}",
            "< 3 ms", result.worst < 0.003),
        Row(section, "calls over 20 ms", f"{floor.slow_calls}" + no_refresh,
            f"{result.slow_calls} of {result.calls}", target="0", ok=result.slow_calls == 0),
        Row(section, "event loop lag, worst", ms(floor.loop_lag) + no_refresh,
            ms(result.loop_lag), f"+{ms(max(result.loop_lag - floor.loop_lag, 0.0))}",
            "≤ 5 ms", result.loop_lag <= 0.005),
        Row(section, "refresh requests per window crossing",
            value=f"{per:.2f} ({result.requests} requests, {result.crossings} crossings)",
            target="1", ok=result.crossings >= 1 and result.requests == result.crossings),
        Row(section, "expired tokens handed out", value=f"{result.expired} of {result.calls}",
            target="0", ok=result.expired == 0 and result.errors == 0,
            note=f"{result.errors} calls raised" if result.errors else ""),
    ]


def cold(settings: Settings, ims: IMS, results: Results) -> None:
    section = f"cold start (new provider, endpoint latency {ms(settings.latency)})"
    cred = ims.add_credential()
    for credential in ("jwt", "oauth"):
        _progress(f"cold start ({credential})")
        found = _startup.cold_start(cred, credential, settings.startup_rounds)
        extra = found.first_token - found.floor
        label = "JWT, signing included" if credential == "jwt" else "OAuth"
        results.rows.append(
            Row(section, f"first token ({label})", ms(found.floor) + " endpoint",
                ms(found.first_token), f"+{ms(extra)}", "≤ endpoint + 2 ms", extra <= 0.002)
        )
        if credential == "jwt":
            results.rows.append(Row(section, "… of which JWT signing", value=ms(found.signing)))
        results.raw[f"cold_{credential}"] = vars(found)
    results.rows += [
        Row(section, "… of which imstoken's new httpx client", value=ms(found.http_client)),
        Row(section, "(a TLS context with the CA bundle, for reference)",
            value=ms(found.tls_context)),
    ]


def import_cost(settings: Settings, results: Results) -> None:
    _progress("import cost")
    found = _startup.import_cost(settings.startup_rounds)
    results.rows.append(
        Row("import (fresh interpreters)", "`import imstoken`",
            ms(found.dependencies) + " its dependencies", ms(found.imstoken),
            times(found.ratio), f"≤ 1.2{TIMES} dependencies", found.ratio <= 1.2)
    )
    results.raw["import"] = vars(found)


# ---------------------------------------------------------------- peers


@contextlib.contextmanager
def _patched(peer: Any, margin: float) -> Iterator[None]:
    if peer.patch is None:
        yield
    else:
        with peer.patch(margin):
            yield


def peers_side_by_side(
    settings: Settings,
    results: Results,
    peers: list[Any],
    server: Any,
    hot: _hotpath.HotPath | None,
    herd: dict[str, _herd.HerdResult] | None,
    stalled: _stall.StallResult | None,
    missing: dict[str, str],
) -> None:
    def hot_cells(name: str, flow: bool) -> list[str]:
        if hot is None:
            return ["n/a", "n/a"]
        cells = []
        for rounds in (hot.sync, hot.asynchronous):
            if name not in rounds:
                cells.append("n/a")
                continue
            if flow:
                values = [f - b for f, b in zip(rounds[name], rounds["flow:none"], strict=True)]
            else:
                values = rounds[name]
            ratio = ratio_median(values, rounds["floor"])
            cells.append(f"{us(median(values))} ({times(ratio)})")
        return cells

    def herd_cell(result: _herd.HerdResult | None) -> str:
        if result is None:
            return "n/a"
        text = f"{result.requests} request{'s' if result.requests != 1 else ''}"
        if result.errors:
            text += f", {len(result.errors)} errors"
        return f"{text}, {ms(result.seconds)}"

    def stall_cell(result: _stall.StallResult | None) -> list[str]:
        if result is None:
            return ["n/a", "n/a", "n/a"]
        return [
            f"{ms(result.worst)} (loop lag {ms(result.loop_lag)})",
            f"{result.requests_per_crossing:.2f}",
            str(result.expired),
        ]

    columns = [
        f"hot path sync ({TIMES} floor)",
        f"hot path async ({TIMES} floor)",
        f"{settings.threads} threads at once",
        f"{settings.tasks} tasks at once",
        "worst caller wait at refresh",
        "requests per refresh",
        "expired served",
    ]
    if hot is not None:
        floor_cells = [us(median(hot.sync["floor"])), us(median(hot.asynchronous["floor"]))]
        results.peer_rows.append(("floor", [*floor_cells, *[DASH] * 5]))
        ours = [
            f"{us(median(hot.sync['get_token']))} "
            f"({times(ratio_median(hot.sync['get_token'], hot.sync['floor']))})",
            f"{us(median(hot.asynchronous['aget_token']))} "
            f"({times(ratio_median(hot.asynchronous['aget_token'], hot.asynchronous['floor']))})",
        ]
    else:
        ours = ["n/a", "n/a"]
    herd = herd or {}
    results.peer_rows.append((
        f"imstoken {imstoken.__version__} (`get_token`)",
        [*ours, herd_cell(herd.get("threads")), herd_cell(herd.get("tasks")),
         *stall_cell(stalled)],
    ))
    lifetime = settings.stall_lifetime
    margin = 0.6 * lifetime  # refresh at 40% of the lifetime, like imstoken's default policy
    for peer in peers:
        _progress(f"peer {peer.name}")
        peer_herds: dict[str, _herd.HerdResult] = {}
        with _patched(peer, 60.0):
            subject: Subject = peer.make(None)
            peer_herds["threads"] = _herd.herd_threads(server, subject, settings.threads)
            subject.close()
            subject = peer.make(None)
            peer_herds["tasks"] = _herd.herd_tasks(server, subject, settings.tasks)
            subject.close()
        server.token_lifetime = lifetime
        try:
            with _patched(peer, margin):
                subject = peer.make(margin)
                peer_stall = _stall.run_stall(
                    server, subject, lifetime=lifetime, duration=settings.stall_duration,
                    threads=settings.stall_threads, tasks=settings.stall_tasks,
                )
                subject.close()
        finally:
            server.token_lifetime = 3600.0
        results.peer_rows.append((
            f"{peer.name} ({peer.label})",
            [*hot_cells(peer.name, peer.auth is not None), herd_cell(peer_herds["threads"]),
             herd_cell(peer_herds["tasks"]), *stall_cell(peer_stall)],
        ))
        if peer.note:
            results.peer_notes.append(f"- {peer.name}: {peer.note}.")
        results.raw[f"peer {peer.name}"] = {
            "herd": {name: vars(result) for name, result in peer_herds.items()},
            "stall": vars(peer_stall),
        }
    for name, reason in missing.items():
        results.peer_notes.append(f"- {name}: {reason}.")
    results.peer_notes.insert(0, (
        f"Peers talk to a loopback RFC 6749 server, imstoken to the local IMS, both with "
        f"{ms(settings.latency)} latency. Herds start from an expired token (peers) or an empty "
        f"cache (imstoken). The refresh columns come from the stall run ({lifetime:g} s tokens, "
        f"every library set to refresh {margin:g} s before expiry). httpx-auth's hot path is its "
        f"auth flow minus a no-op flow."
    ))
    results.peer_rows.insert(0, ("", columns))


# ---------------------------------------------------------------- main


def _versions() -> str:
    names = ["httpx", "authlib", "joserfc", "cachetools", "cryptography"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="imstoken benchmarks (issue 6)."
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter stall")
    parser.add_argument(
        "--peers", action="store_true", help="measure the installed peer libraries side by side"
    )
    parser.add_argument(
        "--latency", type=float, default=0.05, help="token endpoint latency, seconds (0.05)"
    )
    parser.add_argument("--rounds", type=int, default=0, help="timing rounds (41; quick: 9)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated sections of: {', '.join(SECTIONS)}"
    )
    parser.add_argument("--json", default="", help="also write every figure to this file")
    return parser.parse_args(argv)


def run(settings: Settings) -> Results:
    """Measure the selected sections; peers too when asked and installed."""
    results = Results()
    wanted = set(settings.sections)
    peers: list[Any] = []
    missing: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        ims = stack.enter_context(IMS(latency=settings.latency))
        server = None
        if settings.peers:
            from ._peers import PeerServer, load_peers

            server = stack.enter_context(PeerServer(latency=settings.latency))
            _progress("setting up peers")
            peers, missing = load_peers(server)
        hot = hot_path(settings, ims, results, peers) if "hot" in wanted else None
        herd = herds(settings, ims, results) if "herd" in wanted else None
        if "processes" in wanted:
            process_herds(settings, ims, results)
        stalled = stall(settings, results) if "stall" in wanted else None
        if "cold" in wanted:
            cold(settings, ims, results)
        if "import" in wanted:
            import_cost(settings, results)
        if "tenants" in wanted:
            tenants(settings, results, _progress)
        if "fleet" in wanted:
            fleet(settings, results, _progress)
        if settings.peers and server is not None:
            peers_side_by_side(settings, results, peers, server, hot, herd, stalled, missing)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    settings = Settings.from_args(args)
    began = time.monotonic()
    results = run(settings)
    today = datetime.date.today().isoformat()
    title = (
        f"imstoken {imstoken.__version__} benchmarks, {today}: Python "
        f"{platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores; {_versions()}; "
        f"{'quick' if settings.quick else 'full'} run, {settings.rounds} rounds, "
        f"{time.monotonic() - began:.0f} s"
    )
    print(render(results.rows, title=title))
    if results.peer_rows:
        print()
        columns = results.peer_rows[0][1]
        print(render_peers(columns, results.peer_rows[1:], results.peer_notes))
    if args.json:
        payload = {
            "title": title,
            "rows": [row.as_dict() for row in results.rows],
            "peers": results.peer_rows,
            "raw": results.raw,
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1, default=str)
    failed = [row for row in results.rows if row.ok is False]
    return 1 if failed else 0
