"""Small helpers the benchmark scripts share."""

from __future__ import annotations

import sys
from pathlib import Path


def log(*args: object) -> None:
    """Progress goes to stderr; stdout carries only the JSON result."""
    print(*args, file=sys.stderr, flush=True)


def rss_kb(pid: int) -> int:
    """Resident memory of a process, in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
