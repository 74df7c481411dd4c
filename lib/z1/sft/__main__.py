"""``python -m z1.sft`` (also under ``accelerate launch -m z1.sft``)."""

import sys

from z1.sft.cli import main

sys.exit(main())
