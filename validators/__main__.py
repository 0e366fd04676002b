"""``python -m validators PATH...`` (see :mod:`validators.cli`)."""

import sys

from .cli import main

sys.exit(main())
