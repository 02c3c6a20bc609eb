"""AMQP transport: persistent messages, publisher confirms, resend after reconnect."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any, Self

import aio_pika
import aiormq
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from energymon.broker.topology import ROUTING_KEY, Names
from meter_sim.errors import TransportError, UsageError
from meter_sim.readings import Message
from meter_sim.sink import WindowedSink
from meter_sim.stats import Stats

_LOGGER = logging.getLogger(__name__)

DEFAULT_URL = "amqp://guest:guest@127.0.0.1/"
# The server's names under its default namespace.
DEFAULT_EXCHANGE = Names().exchange
DEFAULT_ROUTING_KEY = ROUTING_KEY
DEFAULT_WINDOW = 500
_MAX_BACKOFF = 5.0
_WARN_EVERY = 30.0


@dataclass(frozen=True)
class AmqpOptions:
    """Where and how to publish."""

    url: str
    exchange: str = DEFAULT_EXCHANGE
    routing_key: str = DEFAULT_ROUTING_KEY
    window: int = DEFAULT_WINDOW
    ssl_context: ssl.SSLContext | None = None
    reconnect_interval: float = 1.0
    connect_timeout: float = 15.0
    connection_name: str = "energymon-meter"


def check_url(text: str) -> str:
    """Validate an amqp:// or amqps:// URL; raise UsageError with a hint otherwise."""
    hint = "expected amqp[s]://user:password@host[:port]/[vhost]"
    try:
        url = URL(text)
    except ValueError as exc:
        raise UsageError(f"bad --amqp URL {redact(text)!r}: {exc}; {hint}") from None
    if url.scheme not in ("amqp", "amqps") or not url.host:
        raise UsageError(f"bad --amqp URL {redact(text)!r}: {hint}")
    return text


def redact(text: str) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        url = URL(text)
        return str(url.with_password("***")) if url.password else text
    except ValueError:
        return text


class AmqpSink(WindowedSink):
    """Publishes to a durable direct exchange; every message is retried until confirmed."""

    def __init__(self, options: AmqpOptions, stats: Stats) -> None:
        """Nothing happens until the sink is entered."""
        super().__init__(stats, options.window)
        self.options = options
        self.destination = f"{redact(options.url)} exchange {options.exchange!r}"
        self.connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._warned_unroutable = False
        self._failing_since: float | None = None
        self._warned_at = 0.0
        self._outage = False

    async def __aenter__(self) -> Self:
        """Connect, open a confirming channel and find the server's exchange."""
        options = self.options
        try:
            self.connection = await aio_pika.connect_robust(
                options.url,
                ssl_context=options.ssl_context,
                client_properties={"connection_name": options.connection_name},
                reconnect_interval=options.reconnect_interval,
                timeout=options.connect_timeout,
            )
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise TransportError(
                f"cannot connect to {redact(options.url)}: {_reason(exc)}"
            ) from None
        self.connection.close_callbacks.add(self._on_close)
        self.connection.reconnect_callbacks.add(self._on_reconnect)
        try:
            self._channel = await self.connection.channel(publisher_confirms=True)
            self._exchange = await self._find_exchange(self._channel)
        except TransportError:
            await self.connection.close()
            raise
        except CONNECTION_EXCEPTIONS as exc:
            await self.connection.close()
            raise TransportError(
                f"cannot use exchange {options.exchange!r} on {redact(options.url)}: {_reason(exc)}"
            ) from None
        _LOGGER.info("publishing to %s", self.destination)
        return self

    async def _find_exchange(self, channel: AbstractRobustChannel) -> AbstractExchange:
        """The server's exchange, checked passively: a meter's broker user may publish to it
        but not declare it. When it is missing (no server has run yet) it is declared as the
        server declares it, if this user may."""
        name = self.options.exchange
        try:
            return await channel.get_exchange(name, ensure=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            await channel.reopen()  # the broker closes a channel on a failed passive check
        try:
            # The arguments must match the server's, or the broker refuses with
            # PRECONDITION_FAILED.
            return await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, durable=True)
        except aiormq.exceptions.ChannelAccessRefused:
            raise TransportError(
                f"exchange {name!r} does not exist on {redact(self.options.url)}, and this user "
                "may not declare it: start the energymon server first (it declares it)"
            ) from None

    async def _close(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    async def _deliver(self, message: Message) -> None:
        """Publish until the broker confirms: at least once, so possibly twice."""
        assert self._exchange is not None and self._channel is not None
        amqp_message = aio_pika.Message(
            message.body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            app_id="energymon-meter",
        )
        backoff = 0.2
        first = True
        while True:
            if not first:
                self.stats.resent += message.size
            first = False
            try:
                result = await self._exchange.publish(
                    amqp_message, self.options.routing_key, mandatory=True
                )
            except asyncio.CancelledError:
                # aiormq rejects pending confirmations with CancelledError when a connection
                # breaks; only a cancellation of this very task is a real one.
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise
                self._failing("connection closed")
            except CONNECTION_EXCEPTIONS as exc:
                self._failing(_reason(exc))
            else:
                if isinstance(result, aiormq.spec.Basic.Ack):
                    self.stats.confirmed += message.size
                    self._failing_since = None
                    return
                self._unroutable()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
            await self._channel.ready()

    def _failing(self, reason: str) -> None:
        # Outages are normal and announced by the close callback; a failure that outlasts
        # reconnecting (say, the exchange redeclared with other arguments) must not stay silent.
        _LOGGER.debug("publish failed: %s", reason)
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = self._warned_at = now
        elif now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            _LOGGER.warning(
                "publishing has failed for %.0f s (%s); still retrying",
                now - self._failing_since,
                reason,
            )

    def _unroutable(self) -> None:
        # No queue is bound yet: the server owns and declares it. Keep the readings and try
        # again rather than lose them; say so once.
        if not self._warned_unroutable:
            self._warned_unroutable = True
            _LOGGER.warning(
                "no queue is bound to exchange %r with routing key %r: is the energymon "
                "server running? Retrying.",
                self.options.exchange,
                self.options.routing_key,
            )

    def _on_close(self, _sender: Any, exc: BaseException | None = None) -> None:
        if self.connection is None or self.connection.close_called:
            return
        if not self._outage:
            self._outage = True
            self.stats.note = "reconnecting"
            _LOGGER.warning(
                "broker connection lost (%s); %d messages unconfirmed, they will be resent",
                _reason(exc) if exc else "closed",
                len(self._window),
            )

    def _on_reconnect(self, _sender: Any) -> None:
        self._outage = False
        self.stats.note = ""
        self.stats.reconnects += 1
        _LOGGER.warning("reconnected to %s", redact(self.options.url))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
