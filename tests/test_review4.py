"""Findings of the last outside review (newcomer's path, rotation x sealed shared records)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imstoken._cli import main
from imstoken.testing import Credential, LocalIMS


def _rotating_file_config(ims: LocalIMS, cred: Credential, folder: Path) -> Path:
    other = ims.add_credential()  # a second secret, registered with the leak scan
    ims.remove_credential(other.client_id)
    config = cred.config("oauth", cache="file", cache_path=str(folder / "cache"))
    del config["client_secret"]
    config["client_secrets"] = [cred.client_secret, other.client_secret]
    path = folder / "ims.json"
    path.write_text(json.dumps(config))
    return path


def test_check_probes_each_secret_without_touching_the_shared_cache(
    ims: LocalIMS, cred: Credential, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _rotating_file_config(ims, cred, tmp_path)
    assert main(["check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "client_secrets[0]: accepted" in out
    assert "client_secrets[1]: refused (invalid_client)" in out
    # The per-secret probes used to read the record the check itself had just written (sealed
    # under the active secret) with the other secret: a "planted or tampered" WARNING.
    assert "does not open" not in err
    (record,) = (tmp_path / "cache").glob("oauth-*.json")
    written = record.read_bytes()
    assert main(["check", "--config", str(path)]) == 0
    # The probes leave the check's own record alone (only the check's fetch replaced it).
    assert "does not open" not in capsys.readouterr().err
    assert record.read_bytes() != written  # the check itself still shares its fresh token


def test_every_cache_layer_value_the_metrics_can_carry_is_documented() -> None:
    from imstoken import _metrics

    docs = (Path(__file__).resolve().parent.parent / "docs" / "observability.md").read_text()
    (line,) = [row for row in docs.splitlines() if row.startswith("- `imstoken.cache.layer`")]
    names = ["FileCache", "RedisCache", "file cache", "Redis at 127.0.0.1", "MyOwnCache"]
    for layer in {_metrics.cache_layer_of_name(name) for name in names}:
        assert f"`{layer}`" in line, layer
