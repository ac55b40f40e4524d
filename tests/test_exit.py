"""A process must be able to exit (issue 11, F.18).

Short-lived processes whose token is already in the file cache (the CLI and a four-line
library script) used to crash with SIGSEGV at exit about one run in ten: the daemon
``imstoken-tls`` thread was still inside OpenSSL, loading the CA bundle, while the interpreter
finalized. A slow-loading bundle (many copies of certifi's) makes that overlap the rule, so a
few dozen processes find it; ``python -m benchmarks._exits 400`` runs hundreds.
"""

from __future__ import annotations

from benchmarks._exits import run_exits


def test_short_lived_processes_with_a_cached_token_all_exit_cleanly() -> None:
    codes = run_exits(16, copies=20, parallel=4)
    assert codes == {0: 16}
