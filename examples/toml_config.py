"""One TOML file with both credentials (examples/ims.toml), used as an app would use it.

Fills a copy of examples/ims.toml with a local IMS credential, calls an API with the JWT
credential, flips the one `credential` line, and calls it again with OAuth.

Run against the bundled local IMS: python examples/toml_config.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
from local_api import LocalAPI

import imstoken
from imstoken.testing import LocalIMS

TEMPLATE = Path(__file__).with_name("ims.toml")


def main() -> None:
    with LocalIMS() as ims, LocalAPI(ims) as api, tempfile.TemporaryDirectory() as folder:
        cred = ims.add_credential()
        text = (
            TEMPLATE.read_text()
            .replace("ORG_ID@AdobeOrg", cred.org_id)
            .replace("TECHNICAL_ACCOUNT_ID@techacct.adobe.com", cred.technical_account_id)
            .replace("CLIENT_ID", cred.client_id)
            .replace(
                '# ims_host = "https://ims-na1-stg1.adobelogin.com"', f'ims_host = "{ims.url}"'
            )
        )
        config = Path(folder) / "ims.toml"
        (Path(folder) / "private.key").write_text(cred.private_key or "")
        os.environ["IMS_CLIENT_SECRET"] = cred.client_secret  # as a deployment would set it
        for credential in ("jwt", "oauth"):
            config.write_text(text.replace('credential = "oauth"', f'credential = "{credential}"'))
            with imstoken.from_file(config) as provider, httpx.Client(auth=provider) as client:
                answer = client.get(f"{api.url}/analytics/reports")
                print(f'credential = "{provider.credential}": API answered {answer.status_code}')
        counts = f"jwt={ims.count('jwt')} oauth={ims.count('oauth')}"
        print(f"token requests at IMS: {counts}; API calls answered: {api.answered}")


if __name__ == "__main__":
    main()
