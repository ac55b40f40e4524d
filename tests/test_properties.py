"""Property-based tests: whatever goes in, only ``ImsTokenError`` subclasses come out.

Configuration (mappings, ``IMS_*`` environments, TOML and JSON files, Developer Console project
files) must fail with ``ConfigError``; token responses (any status, headers and bytes) with
``TokenRequestError``; and a token that is accepted must be one that can be used. Each test runs
a fixed number of examples (counted, and recorded with ``record_property``); the whole file
stays well under 30 seconds.

Nothing here touches the network or files outside a temporary folder: ``cache`` never names a
file or Redis cache, and key paths stay inside the temporary folder.
"""

from __future__ import annotations

import functools
import json
import math
import os
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import imstoken
from imstoken import ConfigError, Token, TokenRequestError
from imstoken._backends._response import MAX_LIFETIME_SECONDS, parse_token_response
from imstoken._config import ALIASES, ENV_VARS, IGNORED_KEYS, KNOWN_KEYS, build_settings
from imstoken._config._toml import toml_key, toml_value
from imstoken._factory import build_backend

from .keys import ec_pem, pem

Record = Callable[[str, object], None]

PASSPHRASE = "fuzz-pass-phrase"


def fuzz(examples: int) -> settings:
    """A fixed number of examples, no per-example deadline (CI machines stall).

    Under CI the examples are derandomized, so a landing is never decided by a lucky draw;
    local runs keep exploring new examples.
    """
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=os.environ.get("CI") == "true",
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@functools.cache
def encrypted_pem() -> str:
    return pem(passphrase=PASSPHRASE)


# ---------------------------------------------------------------- values


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()  # unbounded: JSON has no size limit
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=24)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def seconds() -> st.SearchStrategy[Any]:
    return (
        st.integers()
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.sampled_from(["10", " 2.5 ", "1e999", "nan", "-1", "", "ten", "0x10", "1_0"])
        | st.integers(min_value=10**308, max_value=10**400)  # float() overflows on these
        | st.booleans()
    )


def plausible() -> dict[str, st.SearchStrategy[Any]]:
    """Values close to valid for each key, so that examples get deep into the validation."""
    text = st.text(max_size=40)
    return {
        "credential": st.sampled_from(["oauth", "jwt", " JWT ", "OAuth", "saml", ""]) | text,
        "authentication_method": st.sampled_from(["oauth", "jwt"]),
        "profile": st.sampled_from(["adobe", "standard", "Standard", "rfc"]),
        "client_id": st.sampled_from(["cid-123", " ", ""]) | text,
        "client_secret": st.sampled_from(["p8e-secret-value-1234567890"]) | text,
        "client_secrets": st.lists(text, max_size=2) | text,
        "org_id": st.sampled_from(["ABC123@AdobeOrg", "abc", "@AdobeOrg"]) | text,
        "ims_org_id": st.sampled_from(["ABC123@AdobeOrg"]),
        "technical_account_id": st.sampled_from(["T1@techacct.adobe.com", "nobody"]) | text,
        "scopes": st.lists(st.sampled_from(["openid", "AdobeID", "", " x "]) | text, max_size=3)
        | st.sampled_from(["openid,AdobeID", " , ", "openid AdobeID"]),
        "metascopes": st.lists(
            st.sampled_from(["ent_analytics_bulk_ingest_sdk"]) | text, max_size=2
        ),
        "private_key": st.sampled_from(
            [pem(), encrypted_pem(), ec_pem(), pem().replace("\n", "\\n"), pem()[:300], "junk"]
        )
        | text,
        "private_key_passphrase": st.sampled_from([PASSPHRASE, "wrong", ""]) | text,
        "passphrase": st.sampled_from([PASSPHRASE]),
        "ims_host": st.sampled_from(
            [
                "https://ims-na1.adobelogin.com",
                "http://127.0.0.1:9",
                "http://example.com",
                "ftp://x",
                "https://user:pw@host",
                "http://[::1",
                "https://host:99999",
                "https://host/#frag",
            ]
        )
        | text,
        "token_url": st.sampled_from(["https://login.example/token", "http://localhost:1/t"])
        | text,
        "ims_env": st.sampled_from(["prod", "stage", "dev"]) | text,
        "timeout": seconds(),
        "deadline": seconds(),
        "jwt_expiry": seconds(),
        "refresh_window": seconds(),
        "min_validity": seconds(),
        "default_expires_in": seconds(),
        "client_auth": st.sampled_from(
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none", "mtls"]
        ),
        "signing_algorithm": st.sampled_from(["RS256", "ES256", "PS512", "HS256", "none"]) | text,
        "scope_claim": st.booleans() | st.sampled_from(["yes", "off", "maybe"]),
        "extra_params": st.dictionaries(text, json_values(4), max_size=3) | json_values(3),
        "extra_claims": st.dictionaries(text, json_values(4), max_size=3) | json_values(3),
        "cache": st.sampled_from(["memory", "none", "MEMORY", "", "disk"]),
    }


SAFE_CACHE = st.sampled_from(["memory", "none", "Memory", "", "disk", "shared"])
NO_SUCH_HOME = "~imstoken-no-such-user/key.pem"  # expanduser() raises for an unknown user
KEY_NAMES = sorted(KNOWN_KEYS | set(ALIASES) | IGNORED_KEYS)


def key_path(root: Path) -> st.SearchStrategy[str]:
    """A private key path that stays inside ``root`` (NUL bytes and all)."""
    name = st.text(max_size=20).map(lambda text: text.replace("/", "_").replace("..", "__"))
    files = ["key.pem", "garbage.pem", "missing.pem", ".", "encrypted.pem", "nul\x00.pem"]
    return (
        st.sampled_from(files).map(lambda file: str(root / file))
        | name.map(lambda text: str(root / ("k" + text)))
        | st.just(NO_SUCH_HOME)
    )


def make_key_files(root: Path) -> None:
    (root / "key.pem").write_text(pem())
    (root / "encrypted.pem").write_text(encrypted_pem())
    (root / "garbage.pem").write_bytes(b"\xff\xfe-----BEGIN PRIVATE KEY-----\n\x00\n")


def make_safe(config: Any, root: Path) -> Any:
    """No file or Redis cache (no side effects), key paths inside ``root``: recursively."""
    if not isinstance(config, dict):
        return config
    safe = {}
    for key, value in config.items():
        if key == "cache":
            safe[key] = value if value in ("memory", "none", "MEMORY", "", "disk") else "memory"
        elif key in ("private_key_path", "private_key_file", "cache_path"):
            text = value if isinstance(value, str) else "key.pem"
            if not text.startswith(str(root)) and text != NO_SUCH_HOME:
                text = str(root / text.replace("/", "_").replace("..", "__").lstrip("~"))
            safe[key] = text
        else:
            safe[key] = make_safe(value, root)
    return safe


def valid_configs(root: Path) -> list[dict[str, Any]]:
    """Configurations that build a provider: the starting points for mutations."""
    shared = {
        "client_id": "cid-123",
        "client_secret": "p8e-secret-value-1234567890",
        "org_id": "ABC123@AdobeOrg",
        "ims_host": "http://127.0.0.1:9",
    }
    jwt = {
        "technical_account_id": "T1@techacct.adobe.com",
        "metascopes": ["ent_analytics_bulk_ingest_sdk"],
        "private_key_path": str(root / "key.pem"),
    }
    return [
        {**shared, "credential": "oauth", "scopes": ["openid", "AdobeID"]},
        {**shared, "credential": "oauth", "scopes": "openid,AdobeID", "timeout": 5},
        {**shared, "authentication_method": "oauth", "scope": ["openid"], "deadline": "20"},
        {**shared, "credential": "jwt", **jwt},
        {**shared, "credential": "oauth", "oauth": {"scopes": ["openid"]}, "jwt": dict(jwt)},
        {
            "credential": "oauth",
            "profile": "standard",
            "client_id": "cid",
            "client_secret": "p8e-secret-value-1234567890",
            "token_url": "https://login.example/token",
            "scopes": ["a", "b"],
            "extra_params": {"audience": "api"},
        },
        {
            "credential": "jwt",
            "profile": "standard",
            "client_id": "cid",
            "token_url": "https://login.example/token",
            "private_key": ec_pem(),
            "issuer": "me",
            "extra_claims": {"tenant": "t1"},
        },
    ]


@st.composite
def mutated_configs(draw: st.DrawFn, root: Path) -> dict[Any, Any]:
    """A valid configuration with up to four keys set to odd values, removed, or added."""
    values = {**plausible(), "private_key_path": key_path(root), "private_key_file": key_path(root)}
    bases = valid_configs(root)
    # Loading an RSA key costs ~40 ms (cryptography checks it): fewer JWT starting points.
    base = draw(st.sampled_from(bases[:3] * 3 + bases[3:]))
    config: dict[Any, Any] = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 4))):
        operation = draw(st.sampled_from(["set", "set", "delete", "table", "junk"]))
        if operation == "delete" and config:
            del config[draw(st.sampled_from(sorted(config, key=str)))]
            continue
        key = draw(st.sampled_from(KEY_NAMES))
        value = draw(values.get(key, json_values(3)) | json_values(2))
        if operation == "set":
            config[key] = value
        elif operation == "table":
            table = config.setdefault(draw(st.sampled_from(["jwt", "oauth"])), {})
            if isinstance(table, dict):
                table[key] = value
            else:
                config[key] = value
        else:
            config[draw(st.text(max_size=12) | st.integers() | st.sampled_from(["jwt"]))] = value
    return config


def config_mappings(root: Path) -> st.SearchStrategy[dict[Any, Any]]:
    random_tables = st.dictionaries(
        st.sampled_from(KEY_NAMES) | st.text(max_size=12), json_values(4), max_size=6
    )
    return (mutated_configs(root) | random_tables).map(lambda config: make_safe(config, root))


def check_config_error(error: ConfigError, config: Mapping[Any, Any]) -> None:
    """A ConfigError names keys, never values: no secret value shows in its message."""
    text = str(error)
    for name in ("client_secret", "private_key_passphrase", "passphrase"):
        value = config.get(name) if isinstance(config, Mapping) else None
        if isinstance(value, str) and len(value) >= 8 and value.strip() == value:
            assert value not in text, name


# ---------------------------------------------------------------- configuration


@pytest.mark.filterwarnings("ignore:Adobe retired Service Account:DeprecationWarning")
def test_config_mappings_raise_only_config_errors(tmp_path: Path, record_property: Record) -> None:
    make_key_files(tmp_path)
    outcomes: dict[str, int] = {"examples": 0, "providers": 0, "config_errors": 0}

    @fuzz(700)
    @given(config=config_mappings(tmp_path))
    def check(config: dict[Any, Any]) -> None:
        outcomes["examples"] += 1
        try:
            provider = imstoken.from_config(config)
        except ConfigError as error:
            outcomes["config_errors"] += 1
            check_config_error(error, config)
        else:
            outcomes["providers"] += 1
            assert provider.credential in ("jwt", "oauth")
            assert "p8e-secret-value" not in repr(provider)

    check()
    record_property("hypothesis_examples", outcomes["examples"])
    record_property("providers_built", outcomes["providers"])
    assert outcomes["providers"] > 0, "the strategy never reached a valid configuration"


def test_config_values_that_are_not_mappings_raise_config_errors(record_property: Record) -> None:
    count = 0

    @fuzz(150)
    @given(config=json_values())
    def check(config: Any) -> None:
        nonlocal count
        count += 1
        assume(not isinstance(config, dict))
        with pytest.raises(ConfigError):
            imstoken.from_config(config)

    check()
    record_property("hypothesis_examples", count)


def env_text(value: Any) -> str:
    """A value as an environment variable would hold it (lists comma-separated)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def env_dicts(root: Path) -> st.SearchStrategy[dict[str, str]]:
    values = plausible()

    def as_env(key: str) -> st.SearchStrategy[str]:
        text = st.text(max_size=40)
        strategy = values.get(key)
        return text if strategy is None else strategy.map(env_text) | text

    optional: dict[str, st.SearchStrategy[str]] = {
        variable: as_env(key) for key, variable in ENV_VARS.items()
    }
    optional["IMS_CACHE"] = SAFE_CACHE
    optional["IMS_PRIVATE_KEY_PATH"] = key_path(root)
    optional["IMS_CACHE_PATH"] = key_path(root)
    return st.fixed_dictionaries({}, optional=optional).map(lambda env: {**env, "PATH": "/usr/bin"})


def test_env_dicts_raise_only_config_errors(tmp_path: Path, record_property: Record) -> None:
    make_key_files(tmp_path)
    count = 0

    @fuzz(400)
    @given(environ=env_dicts(tmp_path))
    def check(environ: dict[str, str]) -> None:
        nonlocal count
        count += 1
        try:
            imstoken.from_env(environ)
        except ConfigError as error:
            check_config_error(error, {"client_secret": environ.get("IMS_CLIENT_SECRET")})

    check()
    record_property("hypothesis_examples", count)


def to_toml(config: Mapping[Any, Any]) -> str:
    lines = []
    for key, value in config.items():
        cleaned = drop_none(value)
        if cleaned is not None:
            lines.append(f"{toml_key(str(key))} = {toml_value(cleaned)}")
    return "\n".join(lines) + "\n"


def drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if drop_none(v) is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value if drop_none(v) is not None]
    return value


@st.composite
def config_files(draw: st.DrawFn, root: Path) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".toml", ".json", ".JSON", ".txt", ""]))
    kind = draw(st.sampled_from(["mapping", "text", "bytes"]))
    if kind == "bytes":
        return suffix, draw(st.binary(max_size=200))
    if kind == "text":
        return suffix, draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    config = draw(config_mappings(root))
    config = {str(k): v for k, v in config.items()}
    if suffix.lower() == ".toml":
        text = to_toml(config)
    else:
        text = json.dumps(config, allow_nan=True, default=str)
    mutation = draw(st.sampled_from(["none", "none", "truncate", "insert", "bom"]))
    if mutation == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif mutation == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(list("{}[]\"'=,\n\\\x00"))) + text[at:]
    data = text.encode("utf-8", "surrogatepass")
    if mutation == "bom":
        data = b"\xef\xbb\xbf" + data
    return suffix, data


@pytest.mark.filterwarnings("ignore:Adobe retired Service Account:DeprecationWarning")
def test_config_files_raise_only_config_errors(tmp_path: Path, record_property: Record) -> None:
    make_key_files(tmp_path)
    count = 0
    path = tmp_path / "ims"

    @fuzz(500)
    @given(
        file=config_files(tmp_path),
        credential=st.sampled_from([None, "oauth", "jwt", "x"]),
        where=st.sampled_from(["here", "here", "here", "nowhere", "no such home", "nul"]),
    )
    def check(file: tuple[str, bytes], credential: str | None, where: str) -> None:
        nonlocal count
        count += 1
        suffix, data = file
        target = path.with_suffix(suffix) if suffix else path
        if where == "here":
            target.write_bytes(data)
        elif where == "no such home":
            target = Path("~imstoken-no-such-user/ims" + suffix)
        elif where == "nul":
            target = tmp_path / ("i\x00ms" + suffix)
        try:
            imstoken.from_file(target, credential=credential)
        except ConfigError:
            pass
        finally:
            if where == "here":
                target.unlink()

    check()
    record_property("hypothesis_examples", count)


def console_entries() -> st.SearchStrategy[Any]:
    text = st.text(max_size=20)
    jwt_block = st.fixed_dictionaries(
        {},
        optional={
            "client_id": st.sampled_from(["cid"]) | text | json_values(2),
            "client_secret": st.sampled_from(["p8e-console-secret-123"]) | json_values(2),
            "client_secrets": st.lists(text, max_size=2) | json_values(2),
            "technical_account_id": st.sampled_from(["T@techacct.adobe.com"]) | json_values(2),
            "technical_account_email": text,
            "meta_scopes": st.lists(st.sampled_from(["ent_x_sdk"]) | text, max_size=2)
            | json_values(2),
        },
    )
    oauth_block = st.fixed_dictionaries(
        {},
        optional={
            "client_id": st.sampled_from(["cid"]) | text | json_values(2),
            "client_secrets": st.lists(
                st.sampled_from(["p8e-console-secret-123"]) | text, max_size=2
            )
            | json_values(2),
            "technical_account_id": st.sampled_from(["T@techacct.adobe.com"]) | json_values(2),
            "scopes": st.lists(st.sampled_from(["openid", "AdobeID"]) | text, max_size=3)
            | json_values(2),
        },
    )
    entry = st.fixed_dictionaries(
        {},
        optional={
            "id": text,
            "name": text,
            "integration_type": st.sampled_from(
                ["service", "oauth_server_to_server", "oauth_server_to_server_migrate", "apikey"]
            )
            | json_values(2),
            "jwt": jwt_block | json_values(2),
            "oauth_server_to_server": oauth_block | json_values(2),
        },
    )
    return st.lists(entry | json_values(2), max_size=3) | json_values(2)


def console_projects() -> st.SearchStrategy[Any]:
    org = st.fixed_dictionaries(
        {}, optional={"ims_org_id": st.sampled_from(["ABC@AdobeOrg"]) | json_values(2)}
    )
    details = st.fixed_dictionaries({}, optional={"credentials": console_entries()})
    workspace = st.fixed_dictionaries({}, optional={"details": details | json_values(2)})
    project = st.fixed_dictionaries(
        {}, optional={"org": org | json_values(2), "workspace": workspace | json_values(2)}
    )
    return st.fixed_dictionaries({"project": project | st.dictionaries(st.text(), json_values(2))})


def test_console_project_files_raise_only_config_errors(
    tmp_path: Path, record_property: Record
) -> None:
    make_key_files(tmp_path)
    count = 0
    target = tmp_path / "project.json"

    @fuzz(300)
    @given(
        project=console_projects(),
        credential=st.sampled_from([None, "oauth", "jwt", "OAuth", "x"]),
        key=st.sampled_from([None, "key.pem", "missing.pem", "garbage.pem"]),
    )
    def check(project: Any, credential: str | None, key: str | None) -> None:
        nonlocal count
        count += 1
        target.write_text(json.dumps(project, allow_nan=True))
        private_key_path = str(tmp_path / key) if key else None
        try:
            imstoken.from_file(target, credential=credential, private_key_path=private_key_path)
        except ConfigError as error:
            check_config_error(error, {"client_secret": "p8e-console-secret-123"})

    check()
    record_property("hypothesis_examples", count)


# ---------------------------------------------------------------- token responses

HEADER_NAMES = ["x-debug-id", "retry-after", "Retry-After", "content-type", "X-Debug-Id"]


def header_values() -> st.SearchStrategy[str]:
    return (
        st.text(max_size=40)
        | st.sampled_from(["0", "5", "99999999999999999999", "²", "١٢", "-1", " 3 "])
        | st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00", "Mon, 99"])
        | st.integers(min_value=0).map(str)
        | st.just("9" * 5000)
    )


def response_bodies() -> st.SearchStrategy[bytes]:
    field_values = (
        json_values(4)
        | st.sampled_from(["bearer", "Bearer", "mac", "a\r\nb", "tok-en", "NaN", "3600"])
        | st.integers(min_value=10**300, max_value=10**400)
    )
    token_like = st.fixed_dictionaries(
        {},
        optional={
            "access_token": st.text(max_size=30) | field_values,
            "token_type": field_values,
            "expires_in": st.integers() | st.floats(allow_nan=True) | field_values,
            "error": field_values,
            "error_description": field_values,
            "scope": field_values,
        },
    ).map(lambda body: json.dumps(body, allow_nan=True).encode())
    return (
        token_like
        | st.binary(max_size=300)
        | json_values().map(lambda value: json.dumps(value, allow_nan=True).encode())
        | st.sampled_from(
            [b"", b"[", b'{"access_token": "a', b"\xff\xfe{\x00", b"<html>x</html>", b"null"]
        )
        | st.integers(0, 1000).map(lambda depth: b"[" * depth + b"]" * depth)
    )


@functools.cache
def backends() -> dict[str, Any]:
    base = {
        "client_id": "cid",
        "client_secret": "p8e-backend-secret-42",
        "org_id": "ABC@AdobeOrg",
        "ims_host": "https://ims.example",
    }
    configs: dict[str, dict[str, Any]] = {
        "adobe oauth": {**base, "credential": "oauth", "scopes": ["openid"]},
        "adobe jwt": {
            **base,
            "credential": "jwt",
            "technical_account_id": "T@techacct.adobe.com",
            "metascopes": ["ent_x_sdk"],
            "private_key": pem(),
        },
        "standard oauth": {
            **base,
            "credential": "oauth",
            "profile": "standard",
            "token_url": "https://login.example/token",
        },
        "standard jwt": {
            "credential": "jwt",
            "profile": "standard",
            "client_id": "cid",
            "token_url": "https://login.example/token",
            "private_key": pem(),
            "issuer": "me",
        },
    }
    return {name: build_backend(build_settings(config)) for name, config in configs.items()}


def check_request_error(error: TokenRequestError) -> None:
    """A usable error: a retry decision, a sane Retry-After, no secret, a repr."""
    assert isinstance(error.retryable, bool)
    assert error.retry_after is None or 0 <= error.retry_after <= 24 * 3600
    assert "p8e-backend-secret-42" not in str(error)
    assert repr(error).startswith(f"{type(error).__name__}(status_code=")


def check_token(token: Token, status: int, sent_at: float) -> None:
    """An accepted token is one that can be used, and sent as a Bearer token."""
    assert 200 <= status < 300
    assert isinstance(token.access_token, str) and token.access_token.strip()
    assert not any(ch in token.access_token for ch in "\r\n\x00")
    assert token.token_type.lower() == "bearer"
    lifetime = token.expires_at - sent_at
    assert math.isfinite(lifetime) and 1.0 <= lifetime <= MAX_LIFETIME_SECONDS


def test_token_responses_raise_only_token_request_errors(record_property: Record) -> None:
    count = 0

    @fuzz(1500)
    @given(
        status=st.integers(-1, 1000) | st.sampled_from([200, 201, 204, 400, 401, 429, 503]),
        headers=st.dictionaries(
            st.sampled_from(HEADER_NAMES) | st.text(max_size=10), header_values(), max_size=4
        ),
        body=response_bodies(),
        backend=st.sampled_from(
            ["wire", "adobe oauth", "adobe jwt", "standard oauth", "standard jwt"]
        ),
        unit=st.sampled_from([1.0, 0.001]),
        default_expires_in=st.sampled_from([None, 3600.0]),
        require_bearer=st.booleans(),
    )
    def check(
        status: int,
        headers: dict[str, str],
        body: bytes,
        backend: str,
        unit: float,
        default_expires_in: float | None,
        require_bearer: bool,
    ) -> None:
        nonlocal count
        count += 1
        sent_at = 1_700_000_000.0
        try:
            if backend == "wire":
                token = parse_token_response(
                    status=status,
                    headers=headers,
                    body=body,
                    sent_at=sent_at,
                    credential="oauth",
                    expires_in_unit=unit,
                    secrets=("p8e-backend-secret-42",),
                    default_expires_in=default_expires_in,
                    require_bearer=require_bearer,
                )
            else:
                token = backends()[backend].parse_response(status, headers, body, sent_at)
        except TokenRequestError as error:
            check_request_error(error)
        else:
            check_token(token, status, sent_at)

    check()
    record_property("hypothesis_examples", count)


def test_a_secret_echoed_in_an_error_body_is_redacted(record_property: Record) -> None:
    count = 0
    alphabet = string.ascii_letters + string.digits + "-_.~+/:%"

    @fuzz(300)
    @given(
        secret=st.text(alphabet, min_size=8, max_size=40),
        before=st.text(max_size=300),
        status=st.sampled_from([200, 400, 401, 500]),
        field=st.sampled_from(["error", "error_description"]),
    )
    def check(secret: str, before: str, status: int, field: str) -> None:
        nonlocal count
        count += 1
        body = json.dumps({field: before + secret + " end"}).encode()
        with pytest.raises(TokenRequestError) as caught:
            parse_token_response(
                status=status,
                headers={},
                body=body,
                sent_at=0.0,
                credential="oauth",
                expires_in_unit=1.0,
                secrets=(secret,),
            )
        error = caught.value
        # Only what the body put there counts: a "secret" such as "TokenReq" or "endpoint"
        # also spells part of imstoken's own message or the class name.
        own = TokenRequestError(
            "token endpoint refused the request; token endpoint answered with an error and no "
            "OAuth error body; token endpoint answered with an OAuth error; "
            "token response has no 'access_token' string; not a JSON object",
            status_code=status,
            error="***",
            error_description="***",
            debug_id=None,
        )
        # The subclass the error is raised as spells its own name in repr() too.
        kinds = " ".join(kind.__name__ for kind in (type(error), *type(error).__mro__))
        assume(secret not in f"{own} {own!r} {kinds} *** end")
        for text in (str(error), repr(error), error.error or "", error.error_description or ""):
            assert secret not in text

    check()
    record_property("hypothesis_examples", count)
