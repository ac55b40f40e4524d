"""``imstoken token``: print an access token, its request headers, or it as JSON."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from .. import TokenRequestError
from ._load import build_provider, load_config
from ._shared import EXIT_OK, warn


def run_token(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print what was asked for on ``out``; warnings from building the provider on ``err``."""
    provider, notices = build_provider(load_config(args), args.credential)
    for notice in notices:
        warn(args, err, notice)
    with provider:
        try:
            token = provider.get_token(force_refresh=args.force_refresh)
            if args.headers:
                headers = provider.headers_for(token)
                out.write("\n".join(f"{name}: {value}" for name, value in headers.items()) + "\n")
                return EXIT_OK
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
