"""Assignment periods in the services: alerts and live events of hours in the owner's period.

Readings go straight to the ingest service here, so they can be stamped in the hours after
the assignment moment (the API refuses readings more than 5 minutes ahead).
"""

from __future__ import annotations

from collections import defaultdict

from energymon.events import AlertRaised, Event, EventHub, HourTotalChanged, ReadingStored
from energymon.models import NOTHING_VISIBLE, Principal, Reading, Role
from energymon.services.alerts import AlertService
from energymon.services.devices import DeviceService
from energymon.services.ingest import IngestService
from energymon.storage.schema import device_assignments

HOUR = 3600


def principal(actor) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(actor.id, actor.user.email, actor.user.role)


async def test_the_owner_gets_the_alerts_and_events_of_hours_within_the_period(
    db, admin, alice, bob
):
    hub = EventHub()
    heard: list[Event] = []
    hub.subscribe(heard.append)
    devices, alerts = DeviceService(db, hub), AlertService(db)
    ingest = IngestService(db, hub)
    boss = principal(admin)
    assert boss.role is Role.ADMIN
    made = await devices.create(
        boss, description="Meter", address="", max_hourly_wh=1000, owner_id=alice.id
    )
    start = (await devices.assign(boss, made.id, bob.id)).visible_from
    straddled, next_hour = start - start % HOUR, start - start % HOUR + HOUR
    sent = {start - 1: 600_000, start: 600_000, next_hour + 10: 1_500_000}
    await ingest.ingest([Reading(made.id, ts, mwh) for ts, mwh in sent.items()])

    totals: dict[int, int] = defaultdict(int)
    for ts, mwh in sent.items():
        totals[ts - ts % HOUR] += mwh
    over = sorted((h for h, total in totals.items() if total > 1_000_000), reverse=True)
    assert next_hour in over and (start % HOUR == 0 or straddled in over)
    every = await alerts.list(boss, device_id=None, unacknowledged=False, limit=10, offset=0)
    assert [a.hour_ts for a in every.items] == over
    mine = await alerts.list(
        principal(bob), device_id=None, unacknowledged=False, limit=10, offset=0
    )
    assert [a.hour_ts for a in mine.items] == [h for h in over if h >= start] == [next_hour]
    assert mine.next_after is None

    # Events name bob only for what lies within his period; the rest is for admins alone.
    readings = {e.reading.ts: e.owner_id for e in heard if isinstance(e, ReadingStored)}
    assert readings == {ts: (bob.id if ts >= start else None) for ts in sent}
    hours = {e.hour_ts: e.owner_id for e in heard if isinstance(e, HourTotalChanged)}
    assert hours == {h: (bob.id if h >= start else None) for h in totals}
    raised = {e.alert.hour_ts: e.alert.owner_id for e in heard if isinstance(e, AlertRaised)}
    assert raised == {h: (bob.id if h >= start else None) for h in over}


async def test_an_owner_without_a_period_sees_nothing_until_assigned_again(db, admin, alice):
    devices = DeviceService(db, EventHub())
    boss = principal(admin)
    made = await devices.create(
        boss, description="Meter", address="", max_hourly_wh=1000, owner_id=alice.id
    )
    async with db.write() as conn:  # a period lost (say, rows restored without it)
        await conn.execute(device_assignments.delete())
    lost = await devices.get(principal(alice), made.id)
    assert (lost.owner_since, lost.visible_from) == (None, NOTHING_VISIBLE)
    again = await devices.assign(boss, made.id, alice.id, include_history=True)
    assert again.owner_since is not None and again.visible_from == 0
