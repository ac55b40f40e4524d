"""AFTER: the same app on imstoken. The credential is configuration; the code never changes.

Run against the bundled local IMS: python examples/after_imstoken.py
In production the config comes from a file (`imstoken.from_file("ims.toml")`) or `IMS_*`
environment variables (`imstoken.from_env()`); flip `credential` from "jwt" to "oauth" there.
"""

from __future__ import annotations

import httpx

import imstoken
from imstoken.testing import LocalIMS


def run_jobs(provider: imstoken.TokenProvider, api_url: str) -> None:
    with httpx.Client(auth=provider) as client:
        for job in range(3):
            token = provider.get_token()
            print(f"job {job}: {token.credential} token, {token.expires_at:.0f} expiry")
            request = client.build_request("GET", api_url)
            # client.send(request) would carry Authorization, x-api-key and x-gw-ims-org-id
            del request


def main() -> None:
    with LocalIMS() as ims:
        cred = ims.add_credential()
        config = cred.both(credential="jwt")  # both credentials in one config
        with imstoken.from_config(config) as provider:
            run_jobs(provider, "https://analytics.adobe.io/api")
        config["credential"] = "oauth"  # the cut-over: one line of configuration
        with imstoken.from_config(config) as provider:
            run_jobs(provider, "https://analytics.adobe.io/api")
        counts = f"jwt={ims.count('jwt')} oauth={ims.count('oauth')}"
        print(f"token requests at IMS for 6 jobs: {counts}")


if __name__ == "__main__":
    main()
