"""HTTP transport: POST /api/v1/ingest with each device's bearer token, retrying 5xx."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

import aiohttp
from yarl import URL

from meter_sim.errors import UsageError
from meter_sim.readings import Message
from meter_sim.sink import WindowedSink
from meter_sim.stats import Stats

_LOGGER = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
DEFAULT_WINDOW = 32
DEFAULT_RETRIES = 10
_MAX_BACKOFF = 30.0
_RETRYABLE = frozenset({408, 429})  # client errors that say "try again later"
_REFUSALS = {"rejected": "rejected by the server", "conflicts": "conflict: another value stored"}


@dataclass(frozen=True)
class HttpOptions:
    """Where to post and with which tokens."""

    url: str
    tokens: Mapping[int, str] = field(default_factory=dict)
    window: int = DEFAULT_WINDOW
    retries: int = DEFAULT_RETRIES
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 30.0

    @property
    def ingest_url(self) -> str:
        """The full ingest endpoint under the base URL."""
        return self.url.rstrip("/") + INGEST_PATH


def check_url(text: str) -> str:
    """Validate an http:// or https:// base URL; raise UsageError otherwise."""
    hint = "expected http[s]://host[:port]"
    try:
        url = URL(text)
    except ValueError as exc:
        raise UsageError(f"bad --http URL {text!r}: {exc}; {hint}") from None
    if url.scheme not in ("http", "https") or not url.host or url.query_string or url.fragment:
        raise UsageError(f"bad --http URL {text!r}: {hint}")
    return text


class HttpSink(WindowedSink):
    """Posts each message with its device's token; retries connection errors and 5xx."""

    def __init__(self, options: HttpOptions, stats: Stats) -> None:
        """Nothing happens until the sink is entered."""
        super().__init__(stats, options.window)
        self.options = options
        self.destination = options.ingest_url
        self._session: aiohttp.ClientSession | None = None
        self._reported: set[int] = set()
        self._refusals_reported = False

    async def __aenter__(self) -> Self:
        """Open the client session."""
        connector = aiohttp.TCPConnector(
            limit=self.options.window, ssl=self.options.ssl_context or True
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            headers={"User-Agent": "energymon-meter"},
        )
        _LOGGER.info("posting to %s", self.destination)
        return self

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _deliver(self, message: Message) -> None:
        """Post one message, retrying what may succeed later."""
        assert self._session is not None
        headers = {
            "Authorization": f"Bearer {self.options.tokens[message.device_id]}",
            "Content-Type": "application/json",
        }
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                async with self._session.post(
                    self.options.ingest_url,
                    data=message.body,
                    headers=headers,
                    allow_redirects=False,
                ) as resp:
                    if 200 <= resp.status < 300:
                        self._settle(message, await _json_or_none(resp))
                        return
                    detail = (await resp.text(errors="replace")).strip()
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}"
                _LOGGER.debug("posting for device %d failed: %r", message.device_id, exc)
            else:
                reason = f"HTTP {status}"
                if status < 500 and status not in _RETRYABLE:
                    self._report(status, message, detail)
                    self.stats.record_failure(message.size, reason)
                    return
                _LOGGER.debug("HTTP %d for device %d: %s", status, message.device_id, detail)
            if attempt >= self.options.retries:
                _LOGGER.warning(
                    "giving up on %d readings of device %d after %d attempts: %s",
                    message.size,
                    message.device_id,
                    attempt + 1,
                    reason,
                )
                self.stats.record_failure(message.size, reason)
                return
            attempt += 1
            self.stats.resent += message.size
            await asyncio.sleep(retry_after if retry_after is not None else _backoff(attempt))

    def _settle(self, message: Message, result: object) -> None:
        """Count the readings the server kept, going by its per-message answer."""
        # The server answers 200 with counts and a status per item: stored, duplicate (kept
        # already), conflict (another value is stored for that time) or rejected.
        refused = dict.fromkeys(_REFUSALS, 0)
        if isinstance(result, dict):
            for key in _REFUSALS:
                value = result.get(key)
                if isinstance(value, int) and value > 0:
                    refused[key] = value
        total = sum(refused.values())
        if total > message.size:  # not the answer we know: trust the 2xx
            total, refused = 0, dict.fromkeys(_REFUSALS, 0)
        self.stats.confirmed += message.size - total
        for key, count in refused.items():
            if count:
                self.stats.record_failure(count, _REFUSALS[key])
        if total and not self._refusals_reported:
            self._refusals_reported = True
            items = result.get("items") if isinstance(result, dict) else None
            reasons = [
                f"{item.get('status')}: {item.get('reason')}"
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict) and item.get("status") in ("rejected", "conflict")
            ]
            _LOGGER.warning(
                "the server refused %d of %d readings of device %d (%s); further refusals "
                "are counted, not shown",
                total,
                message.size,
                message.device_id,
                "; ".join(reasons[:3]) or "no reason given",
            )

    def _report(self, status: int, message: Message, detail: str) -> None:
        # Once per status: a wrong token list would otherwise print a line per reading.
        if status in self._reported:
            return
        self._reported.add(status)
        _LOGGER.warning(
            "HTTP %d for device %d, not retried (further %d responses are counted, not shown): %s",
            status,
            message.device_id,
            status,
            detail[:300] or "(empty body)",
        )


async def _json_or_none(resp: aiohttp.ClientResponse) -> object:
    """The response's JSON, or None when it has none (the body is not needed then)."""
    try:
        return await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return None


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter: about 0.5 s, 1 s, 2 s ... at most 30 s."""
    return min(_MAX_BACKOFF, 0.5 * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in seconds (dates are ignored), at most a minute."""
    if value is None:
        return None
    try:
        return min(60.0, max(0.0, float(value)))
    except ValueError:
        return None
