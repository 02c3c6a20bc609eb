"""`energymon tail`: print the live exchange, one line a message, as another program would read it.

It binds an exclusive queue of its own to `<namespace>.live` with one pattern built from the
options (any of them left out matches everything) and writes `<routing key> <JSON body>` per
message to stdout. The binding is the whole filter: this is the subscriber to copy.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TextIO

from aio_pika.abc import AbstractIncomingMessage

from energymon.broker.connect import connect
from energymon.broker.topology import Names, declare_live
from energymon.config import BrokerConfig

_LOGGER = logging.getLogger(__name__)

KINDS = ("reading", "hour", "alert", "status")


def pattern(site: int | None, device: int | None, kind: str | None) -> str:
    """The binding key for the options: `site.<S|*>.<device|*>.<D|*>.<K|*>`."""
    site_part = "*" if site is None else str(site)
    # Site alerts (`site.<S>.site.alert`) have the same five words: a device filter excludes them.
    what = "*" if device is None else "device"
    device_part = "*" if device is None else str(device)
    return f"site.{site_part}.{what}.{device_part}.{kind or '*'}"


async def tail(config: BrokerConfig, binding: str, out: TextIO = sys.stdout) -> None:
    """Print every message matching `binding` until cancelled."""
    connection = await connect(config)
    async with connection:
        channel = await connection.channel()
        exchange = await declare_live(channel, Names(config.namespace))
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, binding)

        async def show(message: AbstractIncomingMessage) -> None:
            body = message.body.decode("utf-8", errors="replace")
            out.write(f"{message.routing_key} {body}\n")
            out.flush()

        await queue.consume(show, no_ack=True)
        # On stderr, so stdout holds only messages: a caller waits for this line to start.
        print(f"listening on {exchange.name} for {binding}", file=sys.stderr, flush=True)
        await asyncio.Future()
