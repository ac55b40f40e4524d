"""``imstoken convert``: a Developer Console project JSON as an imstoken TOML file.

Both credentials where the project has them, the private key path checked, secrets written
in the file or as ``{ env = "IMS_..." }`` references, and what the user must know as notes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._console_project import console_to_config
from ._keys import load_signing_key
from ._toml import render_toml
from ._values import check_url, read_bytes

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
    pem = read_bytes(
        key_path, lambda reason: ConfigError(f"private key file {str(key_path)!r} {reason}")
    )
    try:
        key = load_signing_key(pem, None, key="--private-key", env_var=None)
    except ConfigError as error:
        if error.key == "private_key_passphrase" and "is encrypted" in error.reason:
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
