"""``imstoken config [show]``: the resolved configuration and where each value came from."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from .. import ConfigError
from .._config import Settings, build_settings, resolve_env_references
from ._check import credentials_in
from ._load import Loaded, load_config
from ._provenance import Origin, Row, rows_for
from ._shared import EXIT_FAILED, EXIT_OK, KINDS, LABEL, one_line


@dataclass
class Shown:
    """One credential as a provider would see it: its rows, or the error that stops it."""

    kind: str
    rows: list[Row] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    error: str | None = None


def run_config(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Show every credential of the config with each value's source; EXIT_FAILED when the
    active (or requested) credential does not validate."""
    loaded = load_config(args)
    options = {}
    if args.private_key is not None:
        options["private_key_path"] = "--private-key"
    if args.ims_host is not None:
        options["ims_host"] = "--ims-host"
    origin = Origin(env=loaded.origin == "env", path=loaded.source, options=options)
    try:
        kinds, active = credentials_in(loaded.config, args.credential)
        active_error = None
    except ConfigError as error:
        kinds = [kind for kind in KINDS if isinstance(loaded.config.get(kind), Mapping)]
        active, active_error = None, one_line(str(error))
    why = active_source(loaded.config, args.credential, origin, active)
    shown = [show_one(loaded, kind, origin) for kind in kinds]
    failed = active_error is not None or any(
        item.error for item in shown if item.kind == active or active is None
    )
    if args.json:
        document = {
            "source": loaded.source,
            "active": active,
            "active_source": why,
            "error": active_error,
            "credentials": [
                {
                    "credential": item.kind,
                    "in_use": item.kind == active,
                    "error": item.error,
                    "unknown_keys": item.unknown,
                    "values": {
                        row.key: {"value": row.value, "source": row.source} for row in item.rows
                    },
                }
                for item in shown
            ],
        }
        out.write(json.dumps(document, indent=2) + "\n")
        return EXIT_FAILED if failed else EXIT_OK

    out.write(f"config: {one_line(loaded.source)}\n")
    if active_error is not None:
        out.write(f"active credential: none: {active_error}\n")
    elif active is None:
        out.write("active credential: none (no `credential` is set)\n")
    else:
        out.write(f"active credential: {active} ({LABEL[active]}; {why})\n")
    for item in shown:
        in_use = " (in use)" if item.kind == active else ""
        out.write(f"\n[{item.kind}] {LABEL[item.kind]}{in_use}\n")
        if item.error:
            out.write(f"  configuration error: {item.error}\n")
        width = max((len(row.key) for row in item.rows), default=0)
        value_width = min(48, max((len(row.value) for row in item.rows), default=0))
        for row in item.rows:
            out.write(f"  {row.key:<{width}}  {row.value:<{value_width}}  {row.source}\n")
        for name in item.unknown:
            out.write(f"  ignored unknown key {name!r}\n")
    out.write("\nsecrets are shown as set / not set; no token was requested\n")
    return EXIT_FAILED if failed else EXIT_OK


def active_source(
    config: Mapping[str, Any], requested: str | None, origin: Origin, active: str | None
) -> str:
    """Why ``active`` is the credential in use."""
    if requested is not None:
        return "--credential option"
    if active is None:
        return "none"
    for name in ("credential", "authentication_method"):
        if name in config:
            where = f"env {'IMS_CREDENTIAL'}" if origin.env else f"file {origin.path}"
            return f"{name} = {json.dumps(config[name])} from {where}"
    return f"the only [{active}] table"


def show_one(loaded: Loaded, kind: str, origin: Origin) -> Shown:
    """Validate ``kind`` as a provider would (no request) and collect its rows."""
    item = Shown(kind)
    settings: Settings | None = None
    try:
        resolved = resolve_env_references(loaded.config, credential=kind)
        settings = build_settings(resolved, credential=kind, base_dir=loaded.base_dir)
    except ConfigError as error:
        item.error = one_line(str(error))
    item.rows, item.unknown = rows_for(loaded.config, kind, origin, settings, loaded.base_dir)
    return item
