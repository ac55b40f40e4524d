"""Where configuration comes from: ``IMS_*`` variables, TOML / JSON files (including Developer
Console and Google service-account files), and ``{ env = "NAME" }`` / ``{ file = "PATH" }``
references to secrets."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from .._secret_files import SecretFiles, SettingsSource
from ._merge import chosen_credential
from ._origin import Origin, SourcedConfig, build_settings, located, origin_of, with_origin
from ._schema import ENV_VARS, Settings
from ._values import expand_user, read_bytes

logger = logging.getLogger("imstoken")


def env_to_config(environ: Mapping[str, str]) -> SourcedConfig:
    """The ``IMS_*`` variables as a configuration mapping (empty values count as unset).

    The mapping remembers that it came from the environment: errors name the variable.
    """
    if not isinstance(environ, Mapping):
        raise ConfigError(
            f"environ must be a mapping of variable names to strings, not {type(environ).__name__}"
        )
    config: dict[str, Any] = {}
    for key, variable in ENV_VARS.items():
        value = environ.get(variable)
        if value is not None and not isinstance(value, str):
            raise ConfigError(
                f"environment values must be strings, not {type(value).__name__}",
                key=key,
                env_var=variable,
            )
        if value is not None and value.strip() != "":
            config[key] = value
    known = set(ENV_VARS.values())
    unknown: list[str] = []
    for name in environ:
        if isinstance(name, str) and name.startswith("IMS_") and name not in known:
            import difflib

            unknown.append(name)
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            logger.warning("imstoken: ignoring unknown environment variable %s%s", name, hint)
    return SourcedConfig(config, Origin("env", unknown=tuple(unknown)))


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a ``.toml`` or ``.json`` file into a mapping (no validation yet)."""
    data = read_bytes(path, lambda reason: ConfigError(f"config file {str(path)!r} {reason}"))
    suffix = path.suffix.lower()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text") from None
    if suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # The TOML error names line and column, not the offending value.
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError(f"config file {str(path)!r} is nested too deeply") from None
        except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file, never a crash
            raise ConfigError(
                f"config file {str(path)!r} could not be read as TOML ({type(exc).__name__})"
            ) from None
    if suffix == ".json":
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            position = f"line {exc.lineno}" if hasattr(exc, "lineno") else "somewhere"
            raise ConfigError(f"config file {str(path)!r} is not valid JSON ({position})") from None
        except RecursionError:
            raise ConfigError(f"config file {str(path)!r} is nested too deeply") from None
        except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file, never a crash
            raise ConfigError(
                f"config file {str(path)!r} could not be read as JSON ({type(exc).__name__})"
            ) from None
        if not isinstance(parsed, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a JSON object")
        return parsed
    raise ConfigError(f"config file {str(path)!r} must end in .toml or .json")


#: Keys whose value may be ``{ env = "VARIABLE" }`` or ``{ file = "PATH" }``: a file that names
#: where the secret is instead of holding it (``imstoken convert --secrets-from-env``).
#: ``client_secrets`` takes references as its items.
ENV_REFERENCE_KEYS = frozenset(
    {"client_secret", "client_secrets", "private_key", "private_key_passphrase", "passphrase"}
)
_KEY_PATH_KEYS = ("private_key_path", "private_key_file")


def resolve_env_references(
    config: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    credential: str | None = None,
    files: SecretFiles | None = None,
    base_dir: Path | None = None,
) -> Mapping[str, Any]:
    """Replace ``{ env = "NAME" }`` and ``{ file = "PATH" }`` values of secret keys by the value.

    Only the references the chosen credential uses are read: after the cut-over, the JWT
    credential's variables can be removed without breaking the OAuth credential in use. A file's
    trailing newline is stripped; a relative path is relative to ``base_dir`` (the config
    file's folder). ``files`` keeps what was read, so a change can be noticed later.
    """
    if not isinstance(config, Mapping):
        return config  # build_settings names the problem
    environ = os.environ if environ is None else environ
    files = SecretFiles() if files is None else files
    # None (missing or invalid): resolve everything; build_settings names the problem.
    chosen = chosen_credential(config, credential)
    overridden: set[str] = set()
    if chosen is not None and isinstance(config.get(chosen), Mapping):
        overridden = {k for k in config[chosen] if k in ENV_REFERENCE_KEYS}

    def reference(key: str, value: Mapping[str, Any], where: str) -> str:
        kind = next(iter(value)) if len(value) == 1 else None
        name = value.get(kind) if kind in ("env", "file") else None
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f'must be a string, {{ env = "VARIABLE" }} or {{ file = "PATH" }} ({where})',
                key=key,
            )
        if kind == "file":
            return files.read(_in_folder(name.strip(), base_dir, key), key)
        resolved = environ.get(name.strip())
        if resolved is None or not resolved.strip():
            raise ConfigError(
                f"names the environment variable {name.strip()}, which is not set ({where})",
                key=key,
            )
        return resolved

    def resolve(table: Mapping[str, Any], where: str) -> dict[str, Any]:
        out = dict(table)
        for key, value in table.items():
            if key in _KEY_PATH_KEYS and isinstance(value, str) and value.strip():
                try:  # read by the key loader, which names any problem; watched here
                    files.watch(_in_folder(value, base_dir, key))
                except (ConfigError, ValueError):
                    pass
            if key not in ENV_REFERENCE_KEYS:
                continue
            if isinstance(value, Mapping):
                out[key] = reference(key, value, where)
            elif key == "client_secrets" and isinstance(value, list | tuple):
                out[key] = [
                    reference(key, item, where) if isinstance(item, Mapping) else item
                    for item in value
                ]
        return out

    top = {k: v for k, v in config.items() if k not in overridden}
    try:
        resolved = resolve(top, "the top level")
        for table in ("jwt", "oauth"):
            if isinstance(config.get(table), Mapping) and chosen in (None, table):
                resolved[table] = resolve(config[table], f"[{table}]")
            elif table in config:
                resolved[table] = config[table]
    except ConfigError as error:
        raise located(error, config, credential) from None
    return with_origin(resolved, origin_of(config))


def _in_folder(text: str, base_dir: Path | None, key: str) -> Path:
    if "\x00" in text:
        raise ConfigError("is not a valid file path", key=key)
    path = expand_user(Path(text), key)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path.absolute()


def settle_settings(
    config: Mapping[str, Any],
    *,
    credential: str | None = None,
    base_dir: Path | None = None,
) -> Settings:
    """Settings from a mapping with its references resolved; when a secret comes from a file,
    they carry how to build them again (``Settings.source``) so a changed file is followed."""
    files = SecretFiles()

    def settle() -> Settings:
        resolved = resolve_env_references(
            config, credential=credential, files=files, base_dir=base_dir
        )
        return build_settings(resolved, credential=credential, base_dir=base_dir)

    settings = settle()
    if not files.watched:
        return settings
    return replace(settings, source=SettingsSource(files, settle))


def load_file_config(
    path: str | os.PathLike[str],
    *,
    credential: str | None = None,
    private_key_path: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Read a config file (TOML, JSON, Developer Console or service-account JSON) as a mapping."""
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(f"from_file needs a path, not {type(path).__name__}")
    file_path = expand_user(Path(os.fspath(path)))
    raw = read_config_file(file_path)
    try:
        config = normalise_file_config(raw, credential=credential)
    except ConfigError as error:
        converted = SourcedConfig(raw, Origin("file", str(file_path), tables=False))
        raise located(error, converted, credential) from None
    # A converted file (Developer Console, Google) has no [jwt]/[oauth] tables of its own.
    origin = Origin("file", str(file_path), tables=config is raw)
    if private_key_path is not None:
        config = dict(config)
        config["private_key_path"] = os.fspath(
            expand_user(Path(os.fspath(private_key_path)), "private_key_path").absolute()
        )
        for table in ("jwt", "oauth"):
            if isinstance(config.get(table), dict):
                config[table] = {
                    k: v
                    for k, v in config[table].items()
                    if k not in ("private_key", "private_key_path", "private_key_file")
                }
        config.pop("private_key", None)
        config.pop("private_key_file", None)  # an alias of private_key_path: "given twice"
    return SourcedConfig(config, origin), file_path.absolute().parent


def normalise_file_config(config: dict[str, Any], *, credential: str | None) -> dict[str, Any]:
    """Return an imstoken configuration mapping for whatever the file holds."""
    if isinstance(config.get("project"), dict):
        from ._console_project import console_to_config

        return console_to_config(config, credential=credential)
    if config.get("type") == "service_account" and "client_email" in config:
        from ._google import service_account_to_config

        return service_account_to_config(config, credential=credential)
    return config
