"""requests: a Session whose every request carries the token (extra: imstoken[requests]).

Run against the bundled local IMS: python examples/requests_app.py
"""

from __future__ import annotations

import requests
from local_api import LocalAPI

import imstoken
from imstoken.testing import LocalIMS


def main() -> None:
    with LocalIMS() as ims, LocalAPI(ims) as api:
        cred = ims.add_credential()
        with imstoken.from_config(cred.config("oauth")) as provider, requests.Session() as session:
            session.auth = provider.requests_auth()  # a 401 refreshes once and resends once
            for page in range(3):
                answer = session.get(f"{api.url}/users", params={"page": page}, timeout=10)
                print(f"page {page}: API answered {answer.status_code}")
        print(f"token requests at IMS: {ims.count()}; API calls answered: {api.answered}")


if __name__ == "__main__":
    main()
