"""Settings for ``profile = "adobe"``: Adobe IMS, its org and technical-account ids and paths."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._token import CredentialKind
from ._keys import configured_key
from ._schema import ADOBE_JWT_PATH, ADOBE_OAUTH_PATH, Settings
from ._values import as_list, as_str, check_url, config_error


def adobe_settings(
    kind: CredentialKind, values: Mapping[str, Any], common: dict[str, Any], base_dir: Path | None
) -> Settings:
    """Adobe IMS: OAuth Server-to-Server (``oauth``) or the Service Account JWT (``jwt``)."""
    if common["client_secret"] is None:
        raise config_error("client_secret", "is missing (or give client_secrets)")
    if common["org_id"] is None:
        raise config_error("org_id", "is missing (the IMS organization id, ending in @AdobeOrg)")
    if not common["org_id"].endswith("@AdobeOrg"):
        raise config_error("org_id", "must end with @AdobeOrg")
    host = common["ims_host"]
    if kind == "oauth":
        if "scopes" not in values:
            raise config_error(
                "scopes",
                'is missing (e.g. scopes = ["openid", "AdobeID"])',
            )
        token_url = values.get("token_url")
        return Settings(
            **common,
            token_url=check_url("token_url", token_url) if token_url else host + ADOBE_OAUTH_PATH,
            scopes=as_list("scopes", values["scopes"]),
        )
    if "technical_account_id" not in values:
        raise config_error("technical_account_id", "is missing (it ends in @techacct.adobe.com)")
    technical_account_id = as_str("technical_account_id", values["technical_account_id"])
    if not technical_account_id.endswith("@techacct.adobe.com"):
        raise config_error("technical_account_id", "must end with @techacct.adobe.com")
    if "metascopes" not in values:
        raise config_error("metascopes", "is missing (e.g. ['ent_analytics_bulk_ingest_sdk'])")
    metascopes = as_list("metascopes", values["metascopes"])
    signing_key = configured_key(values, base_dir)
    if signing_key is None:
        raise config_error("private_key_path", "is missing (or give private_key as PEM text)")
    if signing_key.kind != "RSA":
        raise config_error("private_key", "must be an RSA key: Adobe signs the JWT with RS256")
    token_url = values.get("token_url")
    return Settings(
        **common,
        token_url=check_url("token_url", token_url) if token_url else host + ADOBE_JWT_PATH,
        technical_account_id=technical_account_id,
        metascopes=metascopes,
        signing_key=signing_key,
        signing_algorithm="RS256",
    )
