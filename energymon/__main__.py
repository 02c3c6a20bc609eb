"""`python -m energymon`."""

import sys

from energymon.cli import main

sys.exit(main())
