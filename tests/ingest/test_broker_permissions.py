"""The broker permissions the README gives, applied to real RabbitMQ users: the meter user
publishes readings and nothing else; the server runs on its own user."""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused
from yarl import URL

from energymon.app import create_app
from tests.conftest import IN_CI, make_config
from tests.ingest.test_amqp_ingest import DAY, _device, wait_for_readings
from tests.processes import ROOT

README = Path(ROOT, "README.md")


def readme_permission_lines() -> list[list[str]]:
    """The `rabbitmqctl set_permissions` lines of the README, split as the shell splits them."""
    return [
        shlex.split(line)
        for line in README.read_text().splitlines()
        if line.startswith("rabbitmqctl set_permissions ")
    ]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def broker_users(rabbit: str, names) -> Iterator[dict[str, str]]:
    """A server user and a meter user with the README's permissions, for this test's namespace
    (its `energymon\\.` becomes the test prefix); both deleted afterwards."""
    if shutil.which("rabbitmqctl") is None:
        if IN_CI:
            pytest.fail("rabbitmqctl is needed to test the broker permissions")
        pytest.skip("rabbitmqctl is not installed here")
    lines = readme_permission_lines()
    assert [line[4] for line in lines] == ["energymon", "meter"], lines
    suffix = secrets.token_hex(4)
    prefix = re.escape(names.namespace) + r"\."
    urls: dict[str, str] = {}
    created: list[str] = []
    try:
        for line in lines:
            role = line[4]
            # Hex: a password starting with "-" would be read by rabbitmqctl as an option.
            user, password = f"test-{role}-{suffix}", secrets.token_hex(16)
            rabbitmqctl("add_user", user, password)
            created.append(user)
            patterns = [p.replace(r"energymon\.", prefix) for p in line[5:]]
            rabbitmqctl(*line[1:4], user, *patterns)
            urls[role] = str(URL(rabbit).with_user(user).with_password(password))
        yield urls
    finally:
        for user in created:
            rabbitmqctl("delete_user", user)


async def test_a_meter_user_publishes_readings_and_nothing_else(
    aiohttp_client, db_url, names, admin, alice, broker_users
):
    config = make_config(
        db_url,
        broker={"url": broker_users["energymon"], "namespace": names.namespace, "batch_wait_ms": 5},
    )
    client = await aiohttp_client(create_app(config))  # the server runs on its own user
    device = await _device(client, admin, alice)

    # The meter emulator with the meter user: no exchange to declare, every reading confirmed.
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "meter_sim", "--devices", str(device), "--count", "12"],
        *["--start", f"{DAY}T10:00:00Z", "--speed", "0", "--quiet"],
        *["--amqp", broker_users["meter"], "--exchange", names.exchange],
        cwd=ROOT,
    )
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    day = await wait_for_readings(client, alice, device, 12)
    assert sum(h["readings"] for h in day["hours"]) == 12

    connection = await aio_pika.connect(broker_users["meter"])
    async with connection:
        # Forging events (chat, alerts, session revocations) is refused.
        channel = await connection.channel(publisher_confirms=True)
        events = await channel.get_exchange(f"{names.namespace}.events", ensure=False)
        with pytest.raises(ChannelAccessRefused):
            await events.publish(aio_pika.Message(b"[]"), routing_key="user.1.disabled")
        # So are reading others' readings and declaring anything.
        channel = await connection.channel()
        queue = await channel.get_queue(names.queue, ensure=False)
        with pytest.raises(ChannelAccessRefused):
            await queue.get(fail=False)
        channel = await connection.channel()
        with pytest.raises(ChannelAccessRefused):
            await channel.declare_queue(f"{names.namespace}.sneaky", auto_delete=True)
