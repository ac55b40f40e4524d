"""Cold start (the first token of a new provider) and the cost of ``import imstoken``.

Cold start's floor is the endpoint's own latency: the same request, prepared in advance (JWT
already signed), sent over a new loopback connection by the standard library. The figure is a
new provider's first ``get_token()``: everything imstoken does for a first token (HTTP client,
JWT signing, request, parsing, caching) on top of that floor.

Import cost compares, in fresh interpreters, ``import imstoken`` with importing exactly the
third-party modules it loads (found by asking an interpreter that imported imstoken).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx

import imstoken
from imstoken._config import build_settings
from imstoken._factory import build_backend
from imstoken._http import new_sync_client
from imstoken.testing import Credential, clear_memory_cache

from ._timing import median

DEPENDENCIES = ("httpx", "authlib", "joserfc", "cachetools", "cryptography")


@dataclass
class ColdStart:
    """Medians in seconds: endpoint latency, first token, and parts of the difference."""

    floor: float
    first_token: float
    http_client: float  # imstoken's client for the token endpoint
    tls_context: float  # a TLS context with the default CA bundle, as httpx builds it
    signing: float


def _post(url: str, form: dict[str, str], headers: dict[str, str]) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        body = urlencode(form)
        connection.request(
            "POST",
            parts.path,
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"the endpoint answered {response.status}")
    finally:
        connection.close()


def cold_start(cred: Credential, credential: str, rounds: int) -> ColdStart:
    """Median first-token time of new providers against the endpoint's own latency."""
    config = cred.config(credential)
    floors: list[float] = []
    firsts: list[float] = []
    clients: list[float] = []
    contexts: list[float] = []
    signings: list[float] = []
    for index in range(rounds):
        clear_memory_cache()
        provider = imstoken.from_config(config)  # validates and loads the key: not timed
        backend = build_backend(build_settings(config))
        began = time.perf_counter()
        request = backend.build_request(time.time())
        signings.append(time.perf_counter() - began)

        for step in ("floor", "figure") if index % 2 == 0 else ("figure", "floor"):
            began = time.perf_counter()
            if step == "floor":
                _post(request.url, dict(request.form), dict(request.headers))
                floors.append(time.perf_counter() - began)
            else:
                provider.get_token()
                firsts.append(time.perf_counter() - began)
        provider.close()
        began = time.perf_counter()
        new_sync_client(10.0).close()
        clients.append(time.perf_counter() - began)
        began = time.perf_counter()
        httpx.create_ssl_context()
        contexts.append(time.perf_counter() - began)
    clear_memory_cache()
    return ColdStart(
        median(floors), median(firsts), median(clients), median(contexts), median(signings)
    )


_TIMED_IMPORT = (
    "import time, sys; began = time.perf_counter(); {statement}; "
    "print(time.perf_counter() - began)"
)


def _timed_import(statement: str, env: dict[str, str] | None = None) -> float:
    output = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT.format(statement=statement)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return float(output.strip().splitlines()[-1])


def dependency_modules() -> list[str]:
    """The third-party modules (of imstoken's dependencies) that ``import imstoken`` loads."""
    script = (
        "import sys, json; before = set(sys.modules); import imstoken; "
        f"roots = {DEPENDENCIES!r}; "
        "print(json.dumps(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] in roots)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    modules: list[str] = json.loads(output)
    return modules


@dataclass
class ImportCost:
    """Median seconds to import imstoken, and its dependencies alone, in fresh interpreters."""

    imstoken: float
    dependencies: float
    ratio: float
    modules: list[str]


def import_cost(rounds: int) -> ImportCost:
    """``import imstoken`` against importing the dependency modules it loads, alternating."""
    modules = dependency_modules()
    deps_statement = "import " + ", ".join(modules)
    ours: list[float] = []
    theirs: list[float] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="imstoken-bench-pycache-") as pycache:
        # Both sides from cached bytecode, as after ``pip install`` (an editable checkout run
        # with PYTHONDONTWRITEBYTECODE would otherwise compile imstoken on every import).
        env = {**os.environ, "PYTHONPYCACHEPREFIX": pycache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        _timed_import("import imstoken", env)
        _timed_import(deps_statement, env)
        for index in range(rounds):
            if index % 2 == 0:
                a = _timed_import("import imstoken", env)
                b = _timed_import(deps_statement, env)
            else:
                b = _timed_import(deps_statement, env)
                a = _timed_import("import imstoken", env)
            ours.append(a)
            theirs.append(b)
            ratios.append(a / b)
    return ImportCost(median(ours), median(theirs), median(ratios), modules)
