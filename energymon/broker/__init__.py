"""RabbitMQ: one connect function, the topology's names, the broker-backed hub and its codec.

Besides the ingest consumer (energymon/ingest/amqp.py), this is the only code that speaks
aio-pika.
"""

from __future__ import annotations

from energymon.broker.hub import BrokerHub
from energymon.config import BrokerConfig
from energymon.events import EventHub


def make_hub(config: BrokerConfig) -> EventHub:
    """The hub for this configuration: across processes when a broker is configured."""
    return BrokerHub(config) if config.url else EventHub()


__all__ = ["BrokerHub", "make_hub"]
