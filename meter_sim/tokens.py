"""Device ingest tokens: `device_id token` pairs from a file or the environment."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from meter_sim.errors import UsageError

_LOGGER = logging.getLogger(__name__)

_PAIR = re.compile(r"^(\d+)(?:\s*:\s*|\s+)(\S+)$")


def parse_tokens(text: str, *, origin: str) -> dict[int, str]:
    """Parse `device_id token` pairs, one a line (or separated by commas); `#` starts a comment."""
    tokens: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        for item in line.split("#", 1)[0].split(","):
            item = item.strip()
            if not item:
                continue
            match = _PAIR.match(item)
            if match is None:
                raise UsageError(
                    f"{origin}, line {number}: expected 'device_id token', got {_redact(item)!r}"
                )
            tokens[int(match[1])] = match[2]
    return tokens


def load_tokens(path: Path) -> dict[int, str]:
    """Read a token file; raise UsageError when it is unreadable or ill-formed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read token file {str(path)!r}: {_reason(exc)}") from None
    return parse_tokens(text, origin=f"token file {str(path)!r}")


def _redact(item: str) -> str:
    # Never echo a whole token back into a log or terminal.
    return item if len(item) <= 8 else item[:8] + "..."


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
