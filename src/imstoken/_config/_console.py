"""Adobe Developer Console project JSON ("Download JSON") to an imstoken configuration.

A console file holds no private key and no IMS host; it may hold a Service Account (JWT)
credential, an OAuth Server-to-Server credential, or both (``oauth_server_to_server_migrate``).
The result has a ``[jwt]`` and/or ``[oauth]`` table, so the cut-over stays a one-line change.
Errors name the JSON path that is wrong, never a value.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._keys import load_signing_key
from ._settings import check_url

#: integration_type -> the credential objects an entry of that type must hold.
_TYPES: dict[str, tuple[str, ...]] = {
    "service": ("jwt",),
    "oauth_server_to_server": ("oauth_server_to_server",),
    "oauth_server_to_server_migrate": ("jwt", "oauth_server_to_server"),
}
_KIND = {"jwt": "jwt", "oauth_server_to_server": "oauth"}
_LABEL = {"jwt": "Service Account (JWT)", "oauth": "OAuth Server-to-Server"}
_CREDENTIALS_PATH = "project.workspace.details.credentials"


def _problem(path: str, message: str) -> ConfigError:
    return ConfigError(f"{message} (Developer Console project JSON)", key=path)


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        raise _problem(path, "is missing")
    if not isinstance(value, Mapping):
        raise _problem(path, f"must be an object, not {_json_type(value)}")
    return value


def _string(entry: Mapping[str, Any], name: str, path: str) -> str:
    value = entry.get(name)
    if value is None:
        raise _problem(f"{path}.{name}", "is missing")
    if not isinstance(value, str):
        raise _problem(f"{path}.{name}", f"must be a string, not {_json_type(value)}")
    if not value.strip():
        raise _problem(f"{path}.{name}", "must not be empty")
    return value.strip()


def _strings(entry: Mapping[str, Any], name: str, path: str) -> list[str]:
    value = entry.get(name)
    where = f"{path}.{name}"
    if value is None:
        raise _problem(where, "is missing")
    if not isinstance(value, list):
        raise _problem(where, f"must be a list of strings, not {_json_type(value)}")
    items: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _problem(f"{where}[{index}]", "must be a non-empty string")
        items.append(item.strip())
    if not items:
        raise _problem(where, "must not be empty")
    return items


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return "null" if value is None else type(value).__name__


def _oauth_values(entry: Mapping[str, Any], path: str) -> dict[str, Any]:
    if "client_secrets" in entry:
        # The console lists every active secret (rotation); the first is the one to use.
        secret = _strings(entry, "client_secrets", path)[0]
    else:
        secret = _string(entry, "client_secret", path)
    return {
        "client_id": _string(entry, "client_id", path),
        "client_secret": secret,
        "scopes": _strings(entry, "scopes", path),
    }


def _jwt_values(entry: Mapping[str, Any], path: str) -> dict[str, Any]:
    if "client_secret" in entry:
        secret = _string(entry, "client_secret", path)
    else:
        secret = _strings(entry, "client_secrets", path)[0]
    metascopes_key = "meta_scopes" if "meta_scopes" in entry else "metascopes"
    return {
        "client_id": _string(entry, "client_id", path),
        "client_secret": secret,
        "technical_account_id": _string(entry, "technical_account_id", path),
        "metascopes": _strings(entry, metascopes_key, path),
    }


def console_credentials(data: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The org id and the server credentials (``{"jwt": {...}, "oauth": {...}}``) of a project."""
    project = _object(data.get("project"), "project")
    org = _object(project.get("org"), "project.org")
    org_id = _string(org, "ims_org_id", "project.org")
    workspace = _object(project.get("workspace"), "project.workspace")
    details = _object(workspace.get("details"), "project.workspace.details")
    entries = details.get("credentials")
    if entries is None:
        raise _problem(_CREDENTIALS_PATH, "is missing")
    if not isinstance(entries, list):
        raise _problem(_CREDENTIALS_PATH, f"must be a list, not {_json_type(entries)}")

    found: dict[str, dict[str, Any]] = {}
    found_at: dict[str, str] = {}
    for index, raw in enumerate(entries):
        path = f"{_CREDENTIALS_PATH}[{index}]"
        entry = _object(raw, path)
        integration_type = entry.get("integration_type")
        required = _TYPES.get(integration_type) if isinstance(integration_type, str) else None
        if required is None:
            # API key, OAuth web/native/SPA credentials: not server-to-server, nothing to map.
            continue
        for name in required:
            kind = _KIND[name]
            where = f"{path}.{name}"
            block = _object(entry.get(name), where)
            values = _jwt_values(block, where) if kind == "jwt" else _oauth_values(block, where)
            if kind in found and found[kind] != values:
                raise _problem(
                    _CREDENTIALS_PATH,
                    f"holds two different {_LABEL[kind]} credentials ({found_at[kind]} and "
                    f"{where}); keep the one to use in the file",
                )
            found[kind] = values
            found_at[kind] = where
    if not found:
        raise _problem(
            _CREDENTIALS_PATH,
            "holds no OAuth Server-to-Server or Service Account (JWT) credential",
        )
    return org_id, found


def default_credential(kinds: Iterable[str]) -> str:
    """OAuth when the project has it (JWT is retired), else JWT."""
    return "oauth" if "oauth" in set(kinds) else "jwt"


def console_to_config(data: Mapping[str, Any], *, credential: str | None) -> dict[str, Any]:
    """An imstoken configuration mapping for a Developer Console project JSON.

    ``credential`` picks the active credential; by default OAuth Server-to-Server when the
    project has one. Values shared by both credentials (a migrated credential keeps its client
    id and secret) sit at the top level, the rest in ``[jwt]`` / ``[oauth]`` tables.
    """
    org_id, found = console_credentials(data)
    if credential is None:
        chosen = default_credential(found)
    elif not isinstance(credential, str) or credential.strip().lower() not in _LABEL:
        raise ConfigError('must be "oauth" or "jwt"', key="credential", env_var="IMS_CREDENTIAL")
    else:
        chosen = credential.strip().lower()
    if chosen not in found:
        raise ConfigError(
            f"the Developer Console project has no {_LABEL[chosen]} credential "
            f"(it has: {', '.join(_LABEL[kind] for kind in sorted(found))})",
            key="credential",
        )

    config: dict[str, Any] = {"credential": chosen, "org_id": org_id}
    tables = {kind: dict(values) for kind, values in sorted(found.items())}
    if len(tables) == 2:
        for name in ("client_id", "client_secret"):
            if tables["jwt"][name] == tables["oauth"][name]:
                config[name] = tables["jwt"].pop(name)
                del tables["oauth"][name]
    else:
        (only,) = tables.values()
        for name in ("client_id", "client_secret"):
            config[name] = only.pop(name)
    config.update(tables)
    return config


# ---------------------------------------------------------------- TOML output

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(name: str) -> str:
    """A bare key when TOML allows one, else a quoted key."""
    return name if _BARE_KEY.fullmatch(name) else toml_string(name)


def toml_value(value: Any) -> str:
    """One TOML value: string, boolean, number, list, or inline table."""
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def render_toml(
    config: Mapping[str, Any],
    *,
    header: Sequence[str] = (),
    notes: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A TOML document: top-level keys first, then one ``[table]`` per nested mapping.

    ``header`` lines and ``notes[table]`` lines are written as ``#`` comments (``""`` for the
    top level). Only values that round-trip through :mod:`tomllib` are accepted.
    """
    notes = notes or {}
    lines = [f"# {line}" if line else "#" for line in header]
    scalars = {k: v for k, v in config.items() if not _is_table(v)}
    tables = {k: v for k, v in config.items() if _is_table(v)}
    lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in scalars.items())
    lines.extend(f"# {line}" for line in notes.get("", ()))
    for name, table in tables.items():
        lines.append("")
        lines.append(f"[{toml_key(name)}]")
        lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items())
        lines.extend(f"# {line}" for line in notes.get(name, ()))
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    # A mapping that is an env reference ({ env = "NAME" }) stays an inline value.
    return isinstance(value, Mapping) and set(value) != {"env"}


# ---------------------------------------------------------------- imstoken convert

SHARED_SECRET_ENV = "IMS_CLIENT_SECRET"
PASSPHRASE_ENV = "IMS_PRIVATE_KEY_PASSPHRASE"


@dataclass(frozen=True, slots=True)
class Conversion:
    """The TOML text for a console project, and what the user must know about it."""

    text: str
    credential: str
    kinds: tuple[str, ...]
    holds_secrets: bool
    env_vars: tuple[str, ...]
    notes: tuple[str, ...]


def _printable(text: str) -> str:
    # Goes into a TOML comment: a newline there would end the comment and break the file.
    return "".join(char if char.isprintable() else "?" for char in text)


def _key_file(path: str | os.PathLike[str]) -> tuple[str, bool]:
    """The absolute key path, and whether the key is encrypted. Raises ConfigError if unusable."""
    key_path = Path(os.fspath(path)).expanduser().absolute()
    try:
        pem = key_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"private key file {str(key_path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(
            f"private key file {str(key_path)!r} could not be read "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        key = load_signing_key(pem, None, key="--private-key", env_var=None)
    except ConfigError as error:
        if error.key == "private_key_passphrase" and "needs a passphrase" in str(error):
            return str(key_path), True
        raise
    if key.kind != "RSA":
        raise ConfigError("must be an RSA key: Adobe signs the JWT with RS256", key="--private-key")
    return str(key_path), False


def convert_console(
    data: Mapping[str, Any],
    *,
    credential: str | None = None,
    private_key_path: str | os.PathLike[str] | None = None,
    ims_host: str | None = None,
    secrets_from_env: bool = False,
    source: str = "",
) -> Conversion:
    """Turn a console project into imstoken TOML: both credentials where present.

    With ``secrets_from_env`` the client secrets are written as ``{ env = "IMS_..." }``
    references, which :func:`imstoken.from_file` resolves from the environment.
    """
    mapped = console_to_config(data, credential=credential)
    chosen: str = mapped["credential"]
    kinds = tuple(kind for kind in ("oauth", "jwt") if kind in mapped)
    notes: list[str] = []
    env_vars: list[str] = []
    table_notes: dict[str, list[str]] = {}

    config: dict[str, Any] = {"credential": chosen}
    for name in ("client_id", "client_secret", "org_id"):
        if name in mapped:
            config[name] = mapped[name]
    if ims_host is not None:
        config["ims_host"] = check_url("ims_host", ims_host)
    else:
        table_notes[""] = [
            'ims_host = "https://ims-na1-stg1.adobelogin.com"   # Adobe stage; default: production'
        ]
    tables: dict[str, dict[str, Any]] = {kind: dict(mapped[kind]) for kind in kinds}

    if private_key_path is not None:
        if "jwt" not in tables:
            raise ConfigError(
                "--private-key was given, but the Developer Console project has no "
                "Service Account (JWT) credential"
            )
        key_path, encrypted = _key_file(private_key_path)
        tables["jwt"]["private_key_path"] = key_path
        if encrypted:
            tables["jwt"]["private_key_passphrase"] = {"env": PASSPHRASE_ENV}
            env_vars.append(PASSPHRASE_ENV)
            notes.append(f"the private key is encrypted: set {PASSPHRASE_ENV} to its passphrase")
    elif "jwt" in tables:
        table_notes["jwt"] = [
            'private_key_path = "private.key"   # the console file has no private key: give its '
            "path (relative to this file)"
        ]
        where = "before it can be used" if chosen == "jwt" else "before `imstoken check` tests it"
        notes.append(
            "the console file has no private key: the JWT credential needs private_key_path "
            f"in [jwt] (or --private-key) {where}"
        )

    if secrets_from_env:
        if "client_secret" in config:
            config["client_secret"] = {"env": SHARED_SECRET_ENV}
            env_vars.append(SHARED_SECRET_ENV)
        for kind, table in tables.items():
            if "client_secret" in table:
                name = f"IMS_{kind.upper()}_CLIENT_SECRET"
                table["client_secret"] = {"env": name}
                env_vars.append(name)
        notes.insert(0, "set " + " and ".join(sorted(set(env_vars))) + " before using the file")
    config.update(tables)

    header = ["imstoken configuration, converted by `imstoken convert`"]
    if source:
        header[0] += f" from {_printable(source)}"
    if secrets_from_env:
        header.append("Secrets are read from environment variables: " + ", ".join(env_vars))
    else:
        header.append("It holds client secrets: keep it private (mode 0600), out of git.")
    header.append(
        'The cut-over is one line: credential = "jwt" (Service Account) or "oauth" '
        "(OAuth Server-to-Server)."
    )
    text = render_toml(config, header=header, notes=table_notes)
    return Conversion(
        text=text,
        credential=chosen,
        kinds=kinds,
        holds_secrets=not secrets_from_env,
        env_vars=tuple(dict.fromkeys(env_vars)),
        notes=tuple(notes),
    )
