"""The config for ``token`` and ``check``: from --config or IMS_* variables, and its provider."""

from __future__ import annotations

import argparse
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ConfigError, TokenProvider, from_config
from .._config import env_to_config, load_file_config


@dataclass
class Loaded:
    """A config mapping, the folder its relative paths are relative to, and where it came from."""

    config: dict[str, Any]
    base_dir: Path | None
    source: str
    #: "file" or "env": where IMS_* names apply (env) and where a file and its tables do.
    origin: str = "file"


def load_config(args: argparse.Namespace) -> Loaded:
    """The config mapping from --config, or from IMS_* variables, with --private-key and
    --ims-host applied."""
    loaded = read_config(args)
    ims_host = getattr(args, "ims_host", None)
    if ims_host is not None:
        # The option wins over the file's ims_host (and, for Adobe, token_url) in every table.
        adobe = str(loaded.config.get("profile", "adobe")).lower() == "adobe"
        keys = ("ims_host", "host", "ims_env", *(("token_url",) if adobe else ()))
        for table in [loaded.config, *(loaded.config.get(kind) for kind in ("jwt", "oauth"))]:
            if isinstance(table, dict):
                for key in keys:
                    table.pop(key, None)
        loaded.config["ims_host"] = ims_host
    return loaded


def read_config(args: argparse.Namespace) -> Loaded:
    """The config mapping from --config, or from IMS_* variables, with --private-key applied."""
    private_key = getattr(args, "private_key", None)
    if args.config is not None:
        # The credential matters here for a console JSON: it must hold the one asked for.
        config, base_dir = load_file_config(
            args.config, credential=getattr(args, "credential", None), private_key_path=private_key
        )
        config = {
            key: dict(value) if isinstance(value, dict) else value for key, value in config.items()
        }
        return Loaded(config, base_dir, args.config)
    config = env_to_config(os.environ)
    if not config:
        raise ConfigError(
            "no --config FILE, and no IMS_* environment variables are set "
            "(need at least IMS_CREDENTIAL and IMS_CLIENT_ID)"
        )
    if private_key is not None:
        config.pop("private_key", None)
        config["private_key_path"] = os.fspath(Path(private_key).expanduser().absolute())
    return Loaded(config, None, "IMS_* environment variables", origin="env")


def build_provider(loaded: Loaded, credential: str | None) -> tuple[TokenProvider, list[str]]:
    """A provider, and the warnings building it raised (the retired-JWT one, say)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        provider = from_config(loaded.config, credential=credential, base_dir=loaded.base_dir)
    return provider, list(dict.fromkeys(str(item.message) for item in caught))
