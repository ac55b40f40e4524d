"""``python -m benchmarks``: see ``python -m benchmarks --help``."""

from ._runner import main

raise SystemExit(main())
