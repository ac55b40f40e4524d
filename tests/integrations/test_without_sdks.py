"""What the integrations do without their SDK, and the pieces they share (no SDK needed)."""

from __future__ import annotations

import copy
import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

import imstoken
from imstoken.integrations import _getter, _sdk
from imstoken.testing import Credential

ENTRIES: dict[str, tuple[str, str, str]] = {
    # module: (its SDK's import name, entry point, the extra the error must name)
    "umapi": ("umapi_client", "auth", "umapi"),
    "aepp": ("aepp", "connect_object", "aepp"),
    "aanalytics2": ("aanalytics2", "config", "aanalytics2"),
    "cjapy": ("cjapy", "config", "cjapy"),
    "pdfservices": ("adobe.pdfservices", "credentials", "pdfservices"),
}


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("module", sorted(ENTRIES))
def test_a_missing_sdk_names_the_extra_that_installs_it(module: str, cred: Credential) -> None:
    sdk_module, entry, extra = ENTRIES[module]
    if installed(sdk_module):
        pytest.skip(f"{sdk_module} is installed here")
    integration = importlib.import_module(f"imstoken.integrations.{module}")
    provider = imstoken.from_config(cred.config("oauth"))
    with pytest.raises(imstoken.ImsTokenError, match=rf"pip install 'imstoken\[{extra}\]'"):
        getattr(integration, entry)(provider)


SDK = _sdk.Sdk(distribution="example-sdk", extra="example", supported="1.x")


class Owner:
    @staticmethod
    def build(credential: object, client_config: object) -> str:
        return "sdk's own"

    def getter(self, config: object, verbose: bool = False) -> str:
        return "sdk's own"


def test_a_changed_hook_is_an_ims_token_error_naming_sdk_and_versions() -> None:
    with pytest.raises(imstoken.ImsTokenError, match=r"example-sdk unknown has no Owner\.gone"):
        SDK.hook(Owner, "gone")
    with pytest.raises(imstoken.ImsTokenError, match=r"Owner\.getter\(token=\.\.\.\).*1\.x"):
        SDK.hook(Owner, "getter", ("token",))
    assert SDK.hook(Owner, "getter", ("config",)) is Owner.getter


def test_patch_once_wraps_once_and_keeps_a_staticmethod_static() -> None:
    class Target(Owner):
        pass

    calls: list[str] = []

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        calls.append("wrapped")

        def build(credential: object, client_config: object) -> str:
            return "ours" if credential == "mine" else original(credential, client_config)

        return build

    _sdk.patch_once(Target, "build", wrap)
    _sdk.patch_once(Target, "build", wrap)
    assert calls == ["wrapped"]
    assert Target.build("mine", None) == "ours"
    assert Target().build("other", None) == "sdk's own"  # still static on instances
    assert Owner.build("mine", None) == "sdk's own"


def test_the_provider_rides_through_the_sdks_copies_and_never_shows_a_secret(
    cred: Credential,
) -> None:
    provider = imstoken.from_config(cred.config("oauth"))
    config = {"secret": _getter.ProviderRef(provider), "token": ""}
    copied = copy.deepcopy(config)
    assert copied["secret"] is config["secret"]
    assert _getter.provider_in(copied) is config["secret"]
    assert _getter.provider_in({"secret": cred.client_secret}) is None
    assert cred.client_secret not in repr(copied) + str(copied)

    class ConnectObject:
        def getConfigObject(self) -> dict[str, Any]:
            return copied

    assert _getter.provider_in(ConnectObject()) is config["secret"]
    token, expiry = config["secret"].token_and_expiry()
    assert token == provider.get_token().access_token
    assert expiry == 0
