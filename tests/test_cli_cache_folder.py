"""``cache_path`` naming a regular file: the CLI names the setting, the warning names the problem.

Real ``python -m imstoken`` subprocesses (issue 15): ``cache show`` and ``cache clear`` used to
print a raw ``[Errno 20] Not a directory``; ``token`` warned "unavailable (FileExistsError:
File exists)".
"""

from __future__ import annotations

from pathlib import Path

from imstoken.testing import Credential, LocalIMS

from .test_cli import assert_no_secrets, both_toml, imstoken_cli


def test_a_cache_path_that_is_a_file_is_named_by_cache_show_clear_and_token(
    ims: LocalIMS, cred: Credential, tmp_path: Path
) -> None:
    assert cred.private_key is not None
    (tmp_path / "private.key").write_text(cred.private_key)
    in_the_way = tmp_path / "cache"
    in_the_way.write_text("not a folder")
    extra = f'cache = "file"\ncache_path = "{in_the_way}"\n'
    config = tmp_path / "ims.toml"
    config.write_text(both_toml(cred, ims.url, extra=extra))

    for action in ("show", "clear"):
        run = imstoken_cli("cache", action, "--config", str(config))
        assert run.returncode != 0
        assert "Errno" not in run.output
        assert "'cache_path'" in run.stderr
        assert "not a folder" in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1

    run = imstoken_cli("token", "--config", str(config), "--credential", "oauth")
    assert run.returncode == 0, run.output
    assert "File exists" not in run.stderr
    assert "cache folder path is not a folder" in run.stderr
    assert in_the_way.read_text() == "not a folder"
    assert_no_secrets(run, ims, cred, tokens=False)
