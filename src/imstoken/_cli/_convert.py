"""``imstoken convert``: a Developer Console project JSON in, an imstoken TOML config out."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from .. import ConfigError
from .._config import read_config_file
from .._config._console import convert_console
from ._shared import EXIT_OK, LABEL, UsageError


def run_convert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The config to -o FILE (mode 0600) or stdout; what it holds, and what next, to ``err``."""
    source = Path(args.console_json)
    data = read_config_file(source)
    if not isinstance(data.get("project"), Mapping):
        raise ConfigError(
            f'{str(source)!r} is not a Developer Console project JSON (no "project" object)'
        )
    if args.output is None and not args.secrets_from_env:
        raise UsageError(
            "refusing to print client secrets to the terminal: give -o FILE "
            "(written with mode 0600), or --secrets-from-env"
        )
    conversion = convert_console(
        data,
        credential=args.credential,
        private_key_path=args.private_key,
        ims_host=args.ims_host,
        secrets_from_env=args.secrets_from_env,
        source=source.name,
    )
    if args.output is None:
        out.write(conversion.text)
        where = "the config to stdout"
    else:
        output = Path(args.output).expanduser()
        write_private(output, conversion.text, replace=args.force)
        where = f"{output} (mode 0600)"
    held = ", ".join(LABEL[kind] for kind in conversion.kinds)
    err.write(f'imstoken: wrote {where}: credential = "{conversion.credential}"; holds {held}\n')
    for note in conversion.notes:
        err.write(f"imstoken: {note}\n")
    if args.output is not None:
        err.write(f"imstoken: next: imstoken check --config {args.output}\n")
    return EXIT_OK


def write_private(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to a new file that only its owner can read (mode 0600).

    Without ``replace`` an existing file is never touched (O_EXCL). With it, a private temp
    file in the same folder is renamed over the target, so no reader sees a partial file.
    """
    data = text.encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    if not replace:
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise UsageError(f"{path} exists; add --force to replace it") from None
        target = path
    else:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        target = Path(temp)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), 0o600)  # the umask may have taken bits away
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(target, path)
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()
        raise
