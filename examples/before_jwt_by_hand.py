"""BEFORE: how many apps get an Adobe token today: a JWT signed by hand, posted with requests.

Every process signs its own JWT (PyJWT) and mints a new token on start, and often per job;
nothing is cached or shared, `expires_in` is in milliseconds and easy to misread, errors are
bare exceptions, and moving to OAuth Server-to-Server means rewriting this code.

Run against the bundled local IMS: python examples/before_jwt_by_hand.py  (needs PyJWT)
"""

from __future__ import annotations

import time

import jwt  # PyJWT
import requests
from local_api import LocalAPI

from imstoken.testing import LocalIMS


def get_access_token(
    ims_host: str,
    client_id: str,
    client_secret: str,
    org_id: str,
    technical_account_id: str,
    private_key_pem: str,
    metascopes: list[str],
) -> str:
    claims: dict[str, object] = {
        "exp": int(time.time()) + 300,
        "iss": org_id,
        "sub": technical_account_id,
        "aud": f"{ims_host}/c/{client_id}",
    }
    for metascope in metascopes:
        claims[f"{ims_host}/s/{metascope}"] = True
    assertion = jwt.encode(claims, private_key_pem, algorithm="RS256")
    response = requests.post(
        f"{ims_host}/ims/exchange/jwt",
        data={"client_id": client_id, "client_secret": client_secret, "jwt_token": assertion},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def main() -> None:
    with LocalIMS() as ims, LocalAPI(ims) as api:
        cred = ims.add_credential()
        for job in range(3):
            token = get_access_token(
                ims.url,
                cred.client_id,
                cred.client_secret,
                cred.org_id,
                cred.technical_account_id,
                cred.private_key or "",
                list(cred.metascopes),
            )
            headers = {
                "Authorization": f"Bearer {token}",
                "x-api-key": cred.client_id,
                "x-gw-ims-org-id": cred.org_id,
            }
            answer = requests.get(f"{api.url}/analytics/reports", headers=headers, timeout=10)
            print(f"job {job}: API answered {answer.status_code}")
        print(
            f"token requests at IMS for 3 jobs: {ims.count()}; API calls answered: {api.answered}"
        )


if __name__ == "__main__":
    main()
