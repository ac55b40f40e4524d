"""The declared dependency floors hold: keys reach joserfc the way its oldest allowed release
takes them, signing needs no authlib, and ``nox -s floors`` covers every runtime floor.

The floors themselves are run by ``python -m nox -s floors`` (noxfile.py), which installs every
``>=`` floor pyproject declares and runs this suite; these tests keep the code honest in the
ordinary environment too.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

import imstoken
from imstoken.testing import LocalOAuthServer, generate_private_key

ROOT = Path(__file__).resolve().parent.parent
#: extras that are tools of the project, not something an installed imstoken imports
NOT_RUNTIME = {"bench", "dev", "docs"}


@functools.cache
def private_pem(kind: str) -> str:
    return generate_private_key(kind)


def only_pem_or_jwk(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """Make ``RSAKey``/``ECKey.import_key`` refuse cryptography key objects, as joserfc < 1.6
    does (``TypeError: cannot convert '_RSAPublicKey' object to bytes``)."""
    refused: list[type] = []
    for key_class in (RSAKey, ECKey):
        original = key_class.import_key.__func__  # type: ignore[attr-defined]

        def import_key(cls: Any, value: Any, *args: Any, _original: Any = original) -> Any:
            if not isinstance(value, str | bytes | dict):
                refused.append(type(value))
                raise TypeError(f"cannot convert {type(value).__name__!r} object to bytes")
            return _original(cls, value, *args)

        monkeypatch.setattr(key_class, "import_key", classmethod(import_key))
    return refused


@pytest.mark.parametrize("kind", ["RSA", "EC"])
@pytest.mark.parametrize(
    ("credential", "client_auth"), [("jwt", None), ("oauth", "private_key_jwt")]
)
def test_keys_reach_joserfc_as_pem_and_signing_needs_no_authlib(
    local_oauth: LocalOAuthServer,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    credential: str,
    client_auth: str | None,
) -> None:
    refused = only_pem_or_jwk(monkeypatch)
    # authlib 1.6's rfc7523 signs with authlib.jose, which takes no joserfc key (KeyError: 0);
    # authlib >= 1.7 needs cryptography >= 45. Assertions are signed with joserfc itself.
    monkeypatch.setitem(sys.modules, "authlib", None)
    # The server registers the client's public half (verify_key_of) and verifies with it.
    client = local_oauth.add_client(private_key=private_pem(kind), with_secret=False, key_kind=kind)
    config = client.config(credential, client_auth=client_auth)
    with imstoken.from_config(config) as provider:
        token = provider.get_token()
    assert token.access_token in local_oauth.issued
    request = local_oauth.requests[-1]
    assert request.error is None
    if credential == "jwt":
        assert request.assertion_header["alg"] == ("RS256" if kind == "RSA" else "ES256")
    else:
        assert request.auth_method == "private_key_jwt"
    assert refused == []


def test_an_object_is_refused_by_the_stand_in_as_by_old_joserfc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stand-in above is what makes the test above able to fail: check it does refuse.
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    only_pem_or_jwk(monkeypatch)
    private = load_pem_private_key(private_pem("EC").encode(), password=None)
    with pytest.raises(TypeError, match="to bytes"):
        ECKey.import_key(private.public_key())  # type: ignore[arg-type]


def floor_of(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([^,;\s]+)\s*", requirement)
    assert match is not None, f"no plain '>=' floor in {requirement!r}"
    return match.group(1), match.group(2)


def test_the_floors_session_or_an_sdk_session_holds_every_runtime_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("nox")
    monkeypatch.syspath_prepend(str(ROOT))
    noxfile = importlib.import_module("noxfile")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = set(noxfile.floor_constraints())
    for requirement in project["dependencies"]:
        name, floor = floor_of(requirement)
        assert f"{name}=={floor}" in pinned
    for extra, requirements in project["optional-dependencies"].items():
        if extra in NOT_RUNTIME:
            continue
        if extra in noxfile.SDKS:
            # Its session pins the SDK release the integration is tested against: the floor.
            sdk, floor = floor_of(requirements[0])
            assert noxfile.SDKS[extra] == f"{sdk}=={floor}", extra
            continue
        assert extra in noxfile.FLOOR_EXTRAS, f"the floor of extra {extra!r} is not tested"
        for requirement in requirements:
            name, floor = floor_of(requirement)
            assert f"{name}=={floor}" in pinned
