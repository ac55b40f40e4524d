"""get_token() with the ``otel`` extra installed but no MeterProvider, next to another tree's.

    python -m benchmarks.otel_off [--baseline /work/main/src] [--rounds 7]

Each round runs one child process per tree, back to back (interleaved, so both share the
machine's mood); each child fetches one token from a loopback IMS, then times a batch of
fresh-token ``get_token()`` calls. Prints the median ns per call of each and the median
per-round ratio (the order alternates between rounds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import timeit, imstoken
from imstoken.testing import LocalIMS
try:
    import opentelemetry.metrics  # installed, never configured
    otel = "installed"
except ImportError:
    otel = "absent"
with LocalIMS() as ims:
    cred = ims.add_credential()
    with imstoken.from_config(cred.config("oauth")) as provider:
        provider.get_token()
        get = provider.get_token
        number = 200_000
        best = min(timeit.repeat(get, number=number, repeat=3))
        print(best / number * 1e9, otel)
"""


def run(tree: str) -> tuple[float, str]:
    """One child over ``tree``'s ``src``: (ns per call, whether opentelemetry imported)."""
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="/work/main/src", help="today's src folder")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parents[1] / "src")
    ours, today, ratios = [], [], []
    otel = "?"
    for round_number in range(args.rounds):
        if round_number % 2:  # alternate who goes first
            base = run(args.baseline)[0]
            value, otel = run(here)
        else:
            value, otel = run(here)
            base = run(args.baseline)[0]
        ours.append(value)
        today.append(base)
        ratios.append(value / base)
    a, b = statistics.median(ours), statistics.median(today)
    print(f"get_token() fresh, this tree (opentelemetry {otel}, no MeterProvider): {a:.0f} ns")
    print(f"get_token() fresh, baseline {args.baseline}: {b:.0f} ns")
    ratio = statistics.median(ratios)
    print(f"ratio this/baseline: {ratio:.3f} (median of {args.rounds} per-round ratios)")


if __name__ == "__main__":
    main()
