"""``imstoken demo``: the cut-over and the cache at work, against the bundled local IMS."""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

from .. import from_file
from ..testing import LocalIMS, clear_memory_cache, decode_access_token
from ._shared import EXIT_OK

CONFIG = """\
# One file, both credentials: the cut-over is the next line.
credential = "{credential}"
client_id = "{client_id}"
client_secret = "{client_secret}"
org_id = "{org_id}"
ims_host = "{host}"

[oauth]
scopes = ["openid", "AdobeID", "read_organizations"]

[jwt]
technical_account_id = "{technical_account_id}"
private_key_path = "private.key"
metascopes = ["ent_analytics_bulk_ingest_sdk"]
"""


def run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the demo, writing readable lines to ``out``. Returns an exit status."""

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    clear_memory_cache()
    with LocalIMS() as ims, tempfile.TemporaryDirectory(prefix="imstoken-demo-") as folder:
        cred = ims.add_credential()
        workdir = Path(folder)
        key_path = workdir / "private.key"
        key_path.write_text(cred.private_key or "")
        os.chmod(key_path, 0o600)
        config_path = workdir / "ims.toml"

        def write_config(credential: str) -> None:
            config_path.write_text(
                CONFIG.format(
                    credential=credential,
                    client_id=cred.client_id,
                    client_secret=cred.client_secret,
                    org_id=cred.org_id,
                    host=ims.url,
                    technical_account_id=cred.technical_account_id,
                )
            )

        say(f"local IMS at {ims.url}; config in {config_path}")
        say()
        say('1. credential = "jwt"  (the Service Account (JWT) credential)')
        write_config("jwt")
        with from_file(config_path) as provider:
            token = provider.get_token()
            identity = decode_access_token(token.access_token)
            say(f"   minted {token!r}")
            say(
                f"   token identity: client_id={identity.get('client_id')} "
                f"user_id={identity.get('user_id')}"
            )
            say(f"   requests at IMS: jwt={ims.count('jwt')} oauth={ims.count('oauth')}")
            jwt_user = identity.get("user_id")

            start = time.perf_counter()
            for _ in range(100_000):
                provider.get_token()
            per_call = (time.perf_counter() - start) / 100_000 * 1e6
            say(
                f"   100,000 more get_token() calls: {per_call:.2f} µs each, "
                f"requests at IMS still jwt={ims.count('jwt')}"
            )

        say()
        say('2. flip one line: credential = "oauth"  (OAuth Server-to-Server), no code change')
        write_config("oauth")
        with from_file(config_path) as provider:
            barrier = threading.Barrier(64)
            seen: list[str] = []

            def worker() -> None:
                barrier.wait()
                seen.append(provider.get_token().credential)

            threads = [threading.Thread(target=worker) for _ in range(64)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            token = provider.get_token()
            identity = decode_access_token(token.access_token)
            say(f"   64 threads asked at once; all got credential={set(seen)}")
            say(f"   minted {token!r}")
            say(
                f"   requests at IMS: jwt={ims.count('jwt')} oauth={ims.count('oauth')} "
                "(the flip was not answered from the JWT token's cache entry)"
            )
            same = identity.get("user_id") == jwt_user
            say(f"   same technical account as the JWT token: {same}")

        say()
        say("3. refresh ahead of expiry: IMS now issues 4-second tokens")
        ims.token_lifetime = 4.0
        with from_file(config_path) as provider:
            first = provider.get_token(force_refresh=True)
            before = ims.count("oauth")
            say(f"   new token, expires in {first.expires_at - time.time():.1f} s")
            time.sleep(2.2)  # into the stale window (the last half of its life)
            start = time.perf_counter()
            served = provider.get_token()
            waited = (time.perf_counter() - start) * 1000
            say(
                f"   stale: served the still-valid token at once ({waited:.2f} ms), "
                f"same token: {served.access_token == first.access_token}"
            )
            deadline = time.time() + 5
            while (
                provider.get_token().access_token == first.access_token and time.time() < deadline
            ):
                time.sleep(0.05)
            fresh = provider.get_token()
            say(
                f"   one background refresh later: new token expires in "
                f"{fresh.expires_at - time.time():.1f} s; "
                f"refresh requests at IMS: {ims.count('oauth') - before}"
            )
        say()
        say("done: same code, two credentials, one token per refresh.")
    clear_memory_cache()
    return EXIT_OK
