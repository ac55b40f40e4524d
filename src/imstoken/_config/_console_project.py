"""Adobe Developer Console project JSON ("Download JSON") to an imstoken configuration.

A console file holds no private key and no IMS host; it may hold a Service Account (JWT)
credential, an OAuth Server-to-Server credential, or both (``oauth_server_to_server_migrate``).
The result has a ``[jwt]`` and/or ``[oauth]`` table, so the cut-over stays a one-line change.
Errors name the JSON path that is wrong, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import ConfigError

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
        raise ConfigError('must be "oauth" or "jwt"', key="credential")
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
