"""The live exchange as a third-party program sees it: bound with pika, not energymon's code."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pika

from energymon.app import create_app
from tests.broker.conftest import HOUR_TS, meter, send
from tests.conftest import TEST_HASHER

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {
    path.name.removesuffix(".schema.json"): json.loads(path.read_text())
    for path in (ROOT / "docs" / "live").glob("*.schema.json")
}


@dataclass
class Binding:
    """A pika connection with one exclusive queue per binding pattern."""

    url: str
    exchange: str
    patterns: list[str]
    connection: Any = None
    queues: dict[str, str] = field(default_factory=dict)

    def open(self) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        channel = self.connection.channel()
        for binding in self.patterns:
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queue, self.exchange, routing_key=binding)
            self.queues[binding] = queue

    def take(self, binding: str, count: int, timeout: float = 15) -> list[tuple[str, dict]]:
        """The first `count` messages of one binding's queue (fails after `timeout`)."""
        channel = self.connection.channel()
        got: list[tuple[str, dict]] = []
        for method, props, body in channel.consume(
            self.queues[binding], auto_ack=True, inactivity_timeout=timeout
        ):
            assert method is not None, f"{binding}: {len(got)} of {count} messages: {got}"
            assert props.content_type == "application/json"
            got.append((method.routing_key, json.loads(body)))
            if len(got) == count:
                break
        channel.cancel()
        channel.close()
        return got

    def depth(self, binding: str) -> int:
        channel = self.connection.channel()
        count = channel.queue_declare(self.queues[binding], passive=True).method.message_count
        channel.close()
        return int(count)

    def close(self) -> None:
        self.connection.close()


def validate(body: dict) -> None:
    """Every message against its kind's schema in docs/live."""
    jsonschema.validate(
        body, SCHEMAS[body["kind"]], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _reading(device: int, minute: int, mwh: int) -> tuple[str, dict]:
    body = {
        "version": 1,
        "kind": "reading",
        "site_id": None,
        "device_id": device,
        "ts": HOUR_TS + minute * 60,
        "value_mwh": mwh,
        "consumption_mwh": mwh,
    }
    return f"site.none.device.{device}.reading", body


def _hour(device: int, total: int, over: bool) -> tuple[str, dict]:
    body = {
        "version": 1,
        "kind": "hour",
        "site_id": None,
        "device_id": device,
        "ts": HOUR_TS,
        "total_mwh": total,
        "limit_wh": 1000,
        "over_limit": over,
    }
    return f"site.none.device.{device}.hour", body


def _key(message: tuple[str, dict]) -> str:
    return json.dumps(message, sort_keys=True)


async def test_a_third_party_binding_gets_exactly_the_documented_messages(
    live_client, aiohttp_client, live_config, admin, rabbit, names
):
    # A second process of the installation hears the first one's alerts through the events
    # exchange, and must not publish them to the live exchange again.
    await aiohttp_client(create_app(live_config, password_hasher=TEST_HASHER))
    heat_pump, pump_token = await meter(live_client, admin, "Heat pump")
    oven, oven_token = await meter(live_client, admin, "Oven")
    everything, pump_alerts = "#", f"*.*.device.{heat_pump}.alert"
    binding = Binding(rabbit, names.live, [everything, pump_alerts, "site.7.#"])
    await asyncio.to_thread(binding.open)
    try:
        await send(live_client, pump_token, heat_pump, [(0, 0.4), (20, 0.4)])
        await send(live_client, pump_token, heat_pump, [(40, 0.4)])  # the hour goes over 1 kWh
        await send(live_client, oven_token, oven, [(5, 0.25)])

        got = await asyncio.to_thread(binding.take, everything, 8)
        # Published after all the others: nothing else (no duplicate) comes before it.
        await send(live_client, oven_token, oven, [(10, 0.1)])
        last = await asyncio.to_thread(binding.take, everything, 2)
        alerts = await asyncio.to_thread(binding.take, pump_alerts, 1)
        nothing_for_site_7 = await asyncio.to_thread(binding.depth, "site.7.#")
    finally:
        await asyncio.to_thread(binding.close)

    for _, body in got + last:
        validate(body)
    [(alert_key, alert)] = [m for m in got if m[1]["kind"] == "alert"]
    resp = await live_client.get("/api/v1/alerts", headers=admin.headers)
    [stored] = (await resp.json())["items"]
    assert alert_key == f"site.none.device.{heat_pump}.alert"
    assert alert == {
        "version": 1,
        "kind": "alert",
        "site_id": None,
        "device_id": heat_pump,
        "ts": HOUR_TS,
        "state": "raised",
        "alert_id": stored["id"],
        "rule": "hourly_limit",
        "value": 1_200_000,
        "limit_wh": 1000,
        "late": True,  # its hour ended before the readings came
        "created_at": alert["created_at"],
    }
    expected = [
        _reading(heat_pump, 0, 400_000),
        _reading(heat_pump, 20, 400_000),
        _hour(heat_pump, 800_000, False),
        _reading(heat_pump, 40, 400_000),
        _hour(heat_pump, 1_200_000, True),
        (alert_key, alert),
        _reading(oven, 5, 250_000),
        _hour(oven, 250_000, False),
    ]
    # One channel, batches in turn: the order may vary only within what one flush sends.
    assert sorted(map(_key, got)) == sorted(map(_key, expected))
    assert sorted(map(_key, last)) == sorted(
        map(_key, [_reading(oven, 10, 100_000), _hour(oven, 350_000, False)])
    )
    assert alerts == [(alert_key, alert)]
    assert nothing_for_site_7 == 0
