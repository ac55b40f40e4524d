"""Benchmarks for imstoken (issue 6): hot path, herds, stall, cold start and import cost.

Run ``python -m benchmarks`` (``--quick`` for a short run, ``--peers`` to put authlib,
httpx-auth, google-auth and azure-identity side by side when installed, ``--help`` for the
rest). Every figure is measured in the same run as its floor and reported as a ratio to it, so
the table means the same on a fast laptop and on a noisy two-core CI box. Timings are medians
over interleaved rounds; counts (requests per herd, expired tokens served) are exact.
"""
