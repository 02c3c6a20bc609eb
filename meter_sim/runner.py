"""Runs a scenario: waits for each tick to be due, batches readings, hands them to a sink."""

from __future__ import annotations

import asyncio
import logging

from meter_sim.readings import Reading, format_ts
from meter_sim.scenario import Scenario
from meter_sim.schedule import Clock
from meter_sim.sink import Sink
from meter_sim.stats import Stats

_LOGGER = logging.getLogger(__name__)


async def simulate(scenario: Scenario, sink: Sink, stats: Stats, stop: asyncio.Event) -> None:
    """Send every reading of the scenario through an entered sink; flush and drain at the end."""
    clock = Clock(scenario.speed, scenario.start, future=scenario.future)
    _LOGGER.info(
        "%d devices, %s meters, %s, first reading at %s",
        len(scenario.devices),
        scenario.kind.value,
        clock.mode,
        format_ts(scenario.start),
    )
    pending: dict[int, list[Reading]] = {}
    for tick in scenario.ticks():
        if not await clock.wait_until_due(tick.ts, stop):
            break
        stats.latest_ts = tick.ts
        for reading in tick.readings:
            if (message := scenario.add(pending, reading)) is not None:
                await sink.send(message)
        # While backfilling nothing else waits: let confirmations and progress run.
        await asyncio.sleep(0)
    for message in scenario.flush(pending):
        await sink.send(message)
    if stats.in_flight:
        _LOGGER.info("waiting for %d unconfirmed readings", stats.in_flight)
    await sink.drain()
