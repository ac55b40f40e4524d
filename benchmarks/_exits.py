"""Short-lived processes whose token comes from the file cache must exit cleanly (issue 11, F.18).

Each process builds a provider (which starts loading the TLS context in a thread) and exits
right after reading the cached token: the exit overlaps the CA-bundle load. A bundle made of
many copies of certifi's makes the load last longer, so the overlap is the rule, not luck.

    python -m benchmarks._exits 400           # 400 processes, half CLI, half library
    python -m benchmarks._exits 400 --copies 1  # with the real bundle's load time

prints the exit codes seen (a negative code is a signal: -11 is SIGSEGV).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imstoken
from imstoken.testing import LocalIMS

LIBRARY_SCRIPT = """\
import sys, tomllib, imstoken
config = tomllib.load(open(sys.argv[1], "rb"))
token = imstoken.from_config(config).get_token()
assert token.access_token
"""


def prepare(folder: Path, ims: LocalIMS, copies: int) -> tuple[list[list[str]], dict[str, str]]:
    """A config file with ``cache = "file"`` whose token is already cached, the two commands
    (CLI and library script) and their environment."""
    config = ims.add_credential().config("oauth", cache="file", cache_path=str(folder / "cache"))
    with imstoken.from_config(config) as provider:
        provider.get_token()  # now in the file cache: the processes never fetch
    path = folder / "ims.toml"
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items()))
    script = folder / "four_lines.py"
    script.write_text(LIBRARY_SCRIPT)
    package_root = str(Path(imstoken.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": package_root}
    if copies > 1:
        import certifi

        bundle = folder / "bundle.pem"
        bundle.write_text(Path(certifi.where()).read_text() * copies)
        env["SSL_CERT_FILE"] = str(bundle)
    # -s: no user site (a minimal start); PYTHONPATH points at the imstoken under test.
    commands = [
        [sys.executable, "-s", "-m", "imstoken", "token", "--config", str(path)],
        [sys.executable, "-s", str(script), str(path)],
    ]
    return commands, env


def run_exits(count: int, *, copies: int = 40, parallel: int = 4) -> Counter[int]:
    """Run ``count`` short-lived processes (alternately CLI and library); their exit codes."""
    with LocalIMS() as ims, tempfile.TemporaryDirectory() as tmp:
        commands, env = prepare(Path(tmp), ims, copies)

        def run(index: int) -> int:
            done = subprocess.run(  # our own interpreter and files
                commands[index % 2], env=env, capture_output=True, timeout=120, check=False
            )
            return done.returncode

        with ThreadPoolExecutor(parallel) as pool:
            codes = Counter(pool.map(run, range(count)))
        assert ims.count() == 1, "a process fetched instead of reading the file cache"
        return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=400)
    parser.add_argument("--copies", type=int, default=40, help="certifi copies in the bundle")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    started = time.monotonic()
    codes = run_exits(args.count, copies=args.copies, parallel=args.parallel)
    elapsed = time.monotonic() - started
    print(f"{args.count} processes in {elapsed:.1f} s, exit codes: {dict(sorted(codes.items()))}")


if __name__ == "__main__":
    main()
