"""``python -m z1.assets``."""

import sys

from z1.assets.cli import main

sys.exit(main())
