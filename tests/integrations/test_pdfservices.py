"""pdfservices-sdk 4.3.0 takes its tokens from imstoken (run by ``nox -s pdfservices``).

Skipped where pdfservices-sdk is not installed (the main dev environment).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("adobe.pdfservices")
import io
import json
from pathlib import Path

from adobe.pdfservices.operation.config.client_config import ClientConfig
from adobe.pdfservices.operation.internal.auth import auth_factory
from adobe.pdfservices.operation.pdf_services import PDFServices

import imstoken
from imstoken.integrations import pdfservices as ims_pdf
from imstoken.testing import Credential, LocalIMS

from . import scenarios
from .fake_api import FakeAdobeApi
from .scenarios import KINDS, Driver


def make(provider: imstoken.TokenProvider, api: FakeAdobeApi, cred: Credential) -> Any:
    config_file = Path(api.config_dir) / "pdfservices.json"
    config_file.write_text(json.dumps({"pdfServices": {"pdfServicesUri": api.url}}))
    client_config = ClientConfig()
    client_config.from_file(str(config_file))
    return PDFServices(credentials=ims_pdf.credentials(provider), client_config=client_config)


def call(pdf_services: Any) -> None:
    asset = pdf_services.upload(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "application/pdf")
    assert asset.get_asset_id() == "urn:aaid:fake"
    pdf_services.delete_asset(asset)


DRIVER = Driver("pdfservices", make, call, sends_org=False)


@pytest.fixture(autouse=True)
def _config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(FakeAdobeApi, "config_dir", str(tmp_path), raising=False)


@pytest.mark.parametrize("kind", KINDS)
def test_two_objects_one_provider_one_token_request(
    kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
) -> None:
    scenarios.shared_token(DRIVER, kind, ims, api_for(ims, require_org=DRIVER.sends_org))


@pytest.mark.parametrize("kind", KINDS)
def test_token_changes_mid_run_without_a_failed_call(
    kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
) -> None:
    scenarios.token_changes_mid_run(DRIVER, kind, ims, api_for)


@pytest.mark.parametrize("kind", KINDS)
def test_two_credentials_in_one_process_stay_apart(
    kind: str, ims: LocalIMS, api_for: Callable[..., FakeAdobeApi]
) -> None:
    scenarios.two_credentials(DRIVER, kind, ims, api_for(ims, require_org=DRIVER.sends_org))


def test_a_changed_sdk_is_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, cred: Credential
) -> None:
    monkeypatch.delattr(auth_factory.AuthenticatorFactory, "get_authenticator")
    provider = imstoken.from_config(cred.config("oauth"))
    with pytest.raises(
        imstoken.ImsTokenError, match=r"pdfservices-sdk 4\.3\.0 has no .*supports pdfservices-sdk 4"
    ):
        ims_pdf.credentials(provider)
