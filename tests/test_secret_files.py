"""``{ file = "PATH" }`` secrets and ``private_key_path``: followed when the file changes."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import pytest

import imstoken
from imstoken import _secret_files
from imstoken._config import settle_settings
from imstoken.testing import Credential, LocalIMS, generate_private_key
from imstoken.testing._secrets import public_pem


class SecretVolume:
    """A Kubernetes secret volume: ``name -> ..data/name``, ``..data -> ..<timestamp>``.

    The kubelet writes a new timestamped folder and swaps ``..data`` with one rename.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        root.mkdir()

    def publish(self, files: dict[str, str]) -> None:
        self.generation += 1
        folder = self.root / f"..2026_12_01_10_00_{self.generation:02d}.{self.generation}"
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
        staging = self.root / "..data_tmp"
        staging.symlink_to(folder.name)
        os.replace(staging, self.root / "..data")
        for name in files:
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")

    def path(self, name: str) -> str:
        return str(self.root / name)


def sent_secrets(ims: LocalIMS) -> list[str]:
    return [request.form["client_secret"] for request in ims.requests]


def file_config(cred: Credential, path: str) -> dict[str, object]:
    config = cred.config("oauth")
    config["client_secret"] = {"file": path}
    return config


def test_a_file_reference_is_read_without_its_trailing_newline_and_wrapped(
    tmp_path: Path, cred: Credential
) -> None:
    (tmp_path / "secret").write_text(cred.client_secret + "\n")
    settings = settle_settings(file_config(cred, str(tmp_path / "secret")))
    assert isinstance(settings.client_secret, imstoken._secret.Secret)
    assert settings.client_secret.reveal() == cred.client_secret
    assert cred.client_secret not in repr(settings)


def test_a_relative_file_reference_is_relative_to_the_config_file(
    tmp_path: Path, ims: LocalIMS, cred: Credential
) -> None:
    (tmp_path / "secret.txt").write_text(cred.client_secret + "\r\n")
    (tmp_path / "ims.json").write_text(json.dumps(file_config(cred, "secret.txt")))
    with imstoken.from_file(tmp_path / "ims.json") as provider:
        provider.get_token()
    assert sent_secrets(ims) == [cred.client_secret]


def test_a_missing_file_is_a_config_error_naming_the_key_not_a_value(
    tmp_path: Path, cred: Credential
) -> None:
    with pytest.raises(imstoken.ConfigError, match="cannot be read") as caught:
        imstoken.from_config(file_config(cred, str(tmp_path / "absent")))
    assert caught.value.key == "client_secret"


def test_a_kubernetes_symlink_swap_is_followed_at_the_next_fetch(
    tmp_path: Path, ims: LocalIMS, cred: Credential
) -> None:
    volume = SecretVolume(tmp_path / "secret")
    old = cred.client_secret
    volume.publish({"client_secret": old + "\n"})
    with imstoken.from_config(file_config(cred, volume.path("client_secret"))) as provider:
        provider.get_token()
        new = ims.add_credential().client_secret  # registered with the leak scan
        cred.client_secret = new
        volume.publish({"client_secret": new + "\n"})
        provider.get_token(force_refresh=True)
    assert sent_secrets(ims) == [old, new]  # no refused request: the swap was seen first


def test_a_file_changed_while_a_request_is_refused_is_read_again_at_once(
    tmp_path: Path, ims: LocalIMS, cred: Credential
) -> None:
    volume = SecretVolume(tmp_path / "secret")
    old = cred.client_secret
    volume.publish({"client_secret": old})
    provider = imstoken.from_config(file_config(cred, volume.path("client_secret")))
    with provider:
        ims.pause()  # the request is in flight while the secret is rotated
        done = threading.Event()
        fetch = threading.Thread(target=lambda: (provider.get_token(), done.set()))
        fetch.start()
        while ims.count() < 1 and fetch.is_alive():
            fetch.join(0.005)
        new = ims.add_credential().client_secret
        cred.client_secret = new
        volume.publish({"client_secret": new})
        ims.resume()
        fetch.join()
    assert done.is_set()
    assert sent_secrets(ims) == [old, new]


def test_an_unreadable_file_keeps_the_last_good_value_and_warns_once(
    tmp_path: Path, ims: LocalIMS, cred: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(cred.client_secret)
    with imstoken.from_config(file_config(cred, str(secret))) as provider:
        provider.get_token()
        secret.unlink()
        with caplog.at_level(logging.WARNING, logger="imstoken"):
            provider.get_token(force_refresh=True)
            provider.get_token(force_refresh=True)
    assert sent_secrets(ims) == [cred.client_secret] * 3
    warnings = [r for r in caplog.records if "keeping its last good value" in r.getMessage()]
    assert len(warnings) == 1
    assert cred.client_secret not in warnings[0].getMessage()


def test_the_fresh_path_never_stats_a_file(
    tmp_path: Path, cred: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(cred.client_secret)
    with imstoken.from_config(file_config(cred, str(secret))) as provider:
        provider.get_token()
        stats = []
        real = _secret_files.file_signature
        monkeypatch.setattr(_secret_files, "file_signature", lambda p: stats.append(p) or real(p))
        for _ in range(100):
            provider.get_token()
        assert stats == []
        provider.get_token(force_refresh=True)
        assert stats  # a fetch does look


def test_a_swapped_private_key_file_signs_the_next_assertion(
    tmp_path: Path, ims: LocalIMS, cred: Credential
) -> None:
    volume = SecretVolume(tmp_path / "keys")
    assert cred.private_key is not None
    volume.publish({"private.key": cred.private_key})
    config = cred.config("jwt")
    del config["private_key"]
    config["private_key_path"] = volume.path("private.key")
    with imstoken.from_config(config) as provider:
        provider.get_token()
        replacement = generate_private_key()
        cred.public_key = public_pem(replacement)  # the console's key was replaced
        volume.publish({"private.key": replacement})
        provider.get_token(force_refresh=True)
    assert [r.path for r in ims.requests] == ["/ims/exchange/jwt"] * 2
    assert len(ims.issued) == 2  # both assertions were accepted
