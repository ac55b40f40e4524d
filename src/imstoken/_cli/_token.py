"""``imstoken token``: print an access token, its request headers, or it as JSON."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .. import TokenRequestError
from ._load import build_provider, load_config
from ._shared import EXIT_OK, one_line


def run_token(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print what was asked for on ``out``; warnings from building the provider on ``err``."""
    provider, notices = build_provider(load_config(args), args.credential)
    for notice in notices:
        err.write(f"imstoken: warning: {one_line(notice)}\n")
    with provider:
        try:
            if args.headers:
                lines = [f"{name}: {value}" for name, value in provider.headers().items()]
                out.write("\n".join(lines) + "\n")
                return EXIT_OK
            token = provider.get_token()
        except TokenRequestError as error:
            error.add_note(f"credential: {provider.credential}")
            error.add_note(f"token endpoint: {provider.token_url}")
            raise
    if args.json:
        document = {
            "access_token": token.access_token,
            "token_type": token.token_type,
            "expires_at": token.expires_at,
            "credential": token.credential,
        }
        out.write(json.dumps(document) + "\n")
    else:
        out.write(token.access_token + "\n")
    return EXIT_OK
