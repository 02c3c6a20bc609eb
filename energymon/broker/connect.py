"""The one way energymon connects to RabbitMQ (amqp:// or amqps:// with a CA file)."""

from __future__ import annotations

import logging
import ssl

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

from energymon.config import BrokerConfig

_LOGGER = logging.getLogger(__name__)


def tls_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """For amqps://: verify the broker against `ca_file` (the system's CAs when empty)."""
    if not config.url.startswith("amqps://"):
        return None
    return ssl.create_default_context(cafile=config.ca_file or None)


async def connect(config: BrokerConfig) -> AbstractRobustConnection:
    """A connection that comes back by itself after the broker restarts.

    A broker that takes the connection and never answers must not hold start-up (or a stop
    asked for during it) for ever: after `connect_timeout_s` it is a ConnectionError."""
    timeout = config.connect_timeout_s
    try:
        return await aio_pika.connect_robust(
            config.url, ssl_context=tls_context(config), timeout=timeout
        )
    except TimeoutError:
        url = URL(config.url)
        raise ConnectionError(
            f"RabbitMQ at {url.host}:{url.port} did not answer within {timeout:g} s"
        ) from None
