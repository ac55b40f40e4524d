"""pdfservices-sdk 4.3.0 takes its tokens from imstoken (run by ``nox -s pdfservices``).

Skipped where pdfservices-sdk is not installed (the main dev environment).
"""

from __future__ import annotations

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
from imstoken.testing import Credential

from . import scenarios
from .fake_api import FakeAdobeApi
from .scenarios import Driver


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


class TestScenarios(scenarios.ScenarioTests):
    driver = DRIVER


def test_a_changed_sdk_is_named_before_any_call(
    monkeypatch: pytest.MonkeyPatch, cred: Credential
) -> None:
    monkeypatch.delattr(auth_factory.AuthenticatorFactory, "get_authenticator")
    provider = imstoken.from_config(cred.config("oauth"))
    with pytest.raises(
        imstoken.ImsTokenError, match=r"pdfservices-sdk 4\.3\.0 has no .*supports pdfservices-sdk 4"
    ):
        ims_pdf.credentials(provider)
