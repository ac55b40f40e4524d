"""AFTER: the same app on imstoken. The credential is configuration; the code never changes.

Run against the bundled local IMS: python examples/after_imstoken.py
In production the config comes from a file (`imstoken.from_file("ims.toml")`, see
examples/ims.toml) or `IMS_*` environment variables (`imstoken.from_env()`); flip
`credential` from "jwt" to "oauth" there.
"""

from __future__ import annotations

import httpx
from local_api import LocalAPI

import imstoken
from imstoken.testing import LocalIMS


def run_jobs(provider: imstoken.TokenProvider, api_url: str) -> None:
    # Every request carries Authorization, x-api-key and x-gw-ims-org-id; a 401 refreshes once.
    with httpx.Client(auth=provider) as client:
        for job in range(3):
            answer = client.get(f"{api_url}/analytics/reports")
            print(f"job {job}: {provider.credential} token, API answered {answer.status_code}")


def main() -> None:
    with LocalIMS() as ims, LocalAPI(ims) as api:
        cred = ims.add_credential()
        config = cred.both(credential="jwt")  # both credentials in one config
        with imstoken.from_config(config) as provider:
            run_jobs(provider, api.url)
        config["credential"] = "oauth"  # the cut-over: one line of configuration
        with imstoken.from_config(config) as provider:
            run_jobs(provider, api.url)
        counts = f"jwt={ims.count('jwt')} oauth={ims.count('oauth')}"
        print(f"token requests at IMS for 6 jobs: {counts}; API calls answered: {api.answered}")


if __name__ == "__main__":
    main()
