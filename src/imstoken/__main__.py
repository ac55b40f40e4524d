"""``python -m imstoken``."""

import sys

from ._cli import main

sys.exit(main())
