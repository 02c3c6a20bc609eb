"""`python -m meter_sim` and the `energymon-meter` console script."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from meter_sim.cli import run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the meter emulator; the return value is the exit code."""
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
