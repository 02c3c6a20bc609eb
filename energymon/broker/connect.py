"""The one way energymon connects to RabbitMQ (amqp://, or amqps:// with a CA file and an
optional client certificate)."""

from __future__ import annotations

import logging
import ssl

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

from energymon.config import BrokerConfig, ConfigError

_LOGGER = logging.getLogger(__name__)


def tls_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """For amqps://: verify the broker against `ca_file` (the system's CAs when empty) and
    present `cert_file`/`key_file` when the broker asks for a client certificate."""
    if not config.url.startswith("amqps://"):
        return None
    try:
        context = ssl.create_default_context(cafile=config.ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"broker.ca_file: cannot use {config.ca_file!r}: {_reason(exc)}"
        ) from None
    if config.cert_file:
        try:
            context.load_cert_chain(config.cert_file, config.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"broker.cert_file/key_file: cannot use {config.cert_file!r} with "
                f"{config.key_file!r}: {_reason(exc)}"
            ) from None
    return context


async def connect(config: BrokerConfig) -> AbstractRobustConnection:
    """A connection that comes back by itself after the broker restarts.

    A broker that takes the connection and never answers must not hold start-up (or a stop
    asked for during it) for ever: after `connect_timeout_s` it is a ConnectionError. So is a
    broker whose TLS certificate this side does not trust, in one line that says so."""
    timeout = config.connect_timeout_s
    context = tls_context(config)
    url = URL(config.url)
    try:
        return await aio_pika.connect_robust(config.url, ssl_context=context, timeout=timeout)
    except TimeoutError:
        raise ConnectionError(
            f"RabbitMQ at {url.host}:{url.port} did not answer within {timeout:g} s"
        ) from None
    except ConnectionError as exc:
        untrusted = _untrusted(exc)
        if untrusted is None:
            raise
        raise ConnectionError(
            f"RabbitMQ at {url.host}:{url.port}: its TLS certificate is not trusted "
            f"({untrusted.verify_message}); set broker.ca_file to the CA that signed it"
        ) from None


def _untrusted(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check behind a connection error (aiormq wraps it), if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
