"""``python -m aurora`` is ``auroractl``."""

import sys

from aurora.cli import main

sys.exit(main())
