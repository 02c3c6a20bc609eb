"""RabbitMQ over TLS: meter_sim publishes over amqps, the energymon consumer reads over amqps,
against a private node with a TLS listener (tests/brokers.py), never the shared broker."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest

from energymon.broker.connect import connect
from energymon.broker.topology import Names
from tests.brokers import RabbitNode, TlsFiles
from tests.conftest import build_app, make_config
from tests.processes import ROOT, server_env

START = "2026-11-20T00:00:00Z"
DAY = "2026-11-20"
COUNT = 12  # two hours of 10-minute readings


def _meter(devices: list[int], *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "meter_sim",
        "--devices",
        ",".join(map(str, devices)),
        "--seed",
        "7",
        "--start",
        START,
        "--count",
        str(COUNT),
        "--speed",
        "0",
        "--quiet",
        *extra,
    ]


async def _run(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _devices(client, admin, n: int) -> list[int]:
    ids = []
    for i in range(n):
        resp = await client.post(
            "/api/v1/devices",
            json={"description": f"tls meter {i}", "max_hourly_kwh": 50.0},
            headers=admin.headers,
        )
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["id"])
    return ids


async def _expected_totals(devices: list[int]) -> dict[tuple[int, str], Decimal]:
    """kWh per device and hour, from the emulator's own printed readings."""
    code, out, err = await _run(*_meter(devices, "--print"))
    assert code == 0, err
    totals: dict[tuple[int, str], Decimal] = {}
    for line in out.splitlines():
        r = json.loads(line, parse_float=Decimal)
        key = (r["device_id"], r["ts"][11:13])
        totals[key] = totals.get(key, Decimal(0)) + r["value"]
    return totals


async def _stored_totals(client, admin, devices: list[int], want: int):
    """kWh per device and hour as the API shows them, once `want` readings are stored."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        totals: dict[tuple[int, str], Decimal] = {}
        count = 0
        for device in devices:
            resp = await client.get(
                f"/api/v1/devices/{device}/consumption/hourly",
                params={"date": DAY},
                headers=admin.headers,
            )
            for hour in (await resp.json())["hours"]:
                if hour["readings"]:
                    totals[(device, hour["start"][11:13])] = Decimal(str(hour["kwh"]))
                    count += hour["readings"]
        if count >= want or asyncio.get_running_loop().time() > deadline:
            return count, totals
        await asyncio.sleep(0.2)


def _broker(node: RabbitNode, names: Names, **extra: str) -> dict[str, str]:
    return {"url": node.amqps_url, "namespace": names.namespace, **extra}


@pytest.fixture
def tls_names() -> Names:
    """A namespace of its own on the private node (which is thrown away after the run)."""
    return Names(f"tls-{secrets.token_hex(4)}")


async def _end_to_end(aiohttp_client, db_url, admin, node, names, broker, meter_tls) -> None:
    config = make_config(db_url, broker=broker)
    client = await aiohttp_client(build_app(config))
    devices = await _devices(client, admin, 2)
    expected = await _expected_totals(devices)

    code, _, err = await _run(
        *_meter(devices, "--amqp", node.amqps_url, "--exchange", names.exchange, *meter_tls)
    )
    assert code == 0, err  # every reading confirmed by the broker

    count, stored = await _stored_totals(client, admin, devices, COUNT * len(devices))
    assert count == COUNT * len(devices)
    assert stored == {k: round(v, 6) for k, v in expected.items()}


async def test_readings_over_amqps_are_stored(aiohttp_client, db_url, admin, tls_rabbit, tls_names):
    ca = str(tls_rabbit.tls.ca)
    broker = _broker(tls_rabbit, tls_names, ca_file=ca)
    await _end_to_end(
        aiohttp_client, db_url, admin, tls_rabbit, tls_names, broker, ["--ca-file", ca]
    )


async def test_meter_that_does_not_trust_the_ca_is_refused(tls_rabbit, tls_names):
    code, _, err = await _run(*_meter([1], "--amqp", tls_rabbit.amqps_url))
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith("energymon-meter: error: cannot connect to amqps://guest:***@"), err
    assert "CERTIFICATE_VERIFY_FAILED" in err or "certificate verify failed" in err, err


async def test_serve_that_does_not_trust_the_ca_says_so(sqlite_url, tls_rabbit, tls_names):
    env = server_env(
        sqlite_url,
        ENERGYMON_BROKER_URL=tls_rabbit.amqps_url,
        ENERGYMON_BROKER_NAMESPACE=tls_names.namespace,
        ENERGYMON_GRPC_PORT="0",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "energymon",
        "serve",
        "--port",
        "0",
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err_bytes = await asyncio.wait_for(proc.communicate(), 60)
    err = err_bytes.decode()
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert "its TLS certificate is not trusted" in last, err
    assert "set broker.ca_file" in last, err


@pytest.fixture(scope="module")
def mutual_rabbit(tmp_path_factory: pytest.TempPathFactory, tls_rabbit) -> Iterator[RabbitNode]:
    """A second private node that requires a client certificate signed by the test CA."""
    directory = tmp_path_factory.mktemp("rabbitmq-mutual")
    node = RabbitNode(directory / "node", tls_rabbit.tls, mutual=True)
    node.start()
    try:
        yield node
    finally:
        node.stop()


async def test_mutual_tls_refuses_a_meter_without_a_certificate(mutual_rabbit, tls_names):
    ca = str(mutual_rabbit.tls.ca)
    code, _, err = await _run(*_meter([1], "--amqp", mutual_rabbit.amqps_url, "--ca-file", ca))
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith("energymon-meter: error: cannot connect to amqps://guest:***@"), err


async def test_mutual_tls_with_client_certificates(
    aiohttp_client, db_url, admin, mutual_rabbit, tls_names
):
    tls: TlsFiles = mutual_rabbit.tls
    broker = _broker(
        mutual_rabbit,
        tls_names,
        ca_file=str(tls.ca),
        cert_file=str(tls.client_cert),
        key_file=str(tls.client_key),
    )
    meter_tls = ["--ca-file", str(tls.ca), "--cert", str(tls.client_cert)]
    await _end_to_end(
        aiohttp_client,
        db_url,
        admin,
        mutual_rabbit,
        tls_names,
        broker,
        [*meter_tls, "--key", str(tls.client_key)],
    )


async def test_server_without_a_client_certificate_cannot_connect(mutual_rabbit, tls_names):
    ca = str(mutual_rabbit.tls.ca)
    config = make_config(
        "sqlite:///unused.db", broker=_broker(mutual_rabbit, tls_names, ca_file=ca)
    )
    with pytest.raises(ConnectionError):
        connection = await connect(config.broker)
        await connection.close()
