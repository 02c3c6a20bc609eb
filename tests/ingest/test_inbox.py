"""`Inbox`: items handed out in batches, when full or when the batch's wait is over."""

from __future__ import annotations

import asyncio

from energymon.ingest.batches import Inbox

# Far longer than any test takes: a batch handed out early was full, not timed out.
FOREVER_MS = 600_000
# Bounds a wait that must end at once (it ends in microseconds; this only stops a hang).
PROMPT = 10.0


async def test_items_already_waiting_go_out_at_once_in_order() -> None:
    inbox: Inbox[int] = Inbox()
    for n in range(5):
        inbox.put(n)
    assert await asyncio.wait_for(inbox.take(3, FOREVER_MS), PROMPT) == [0, 1, 2]
    assert len(inbox) == 2
    assert await asyncio.wait_for(inbox.take(3, 0), PROMPT) == [3, 4]
    assert len(inbox) == 0


async def test_a_taker_waits_for_the_first_item_however_long() -> None:
    inbox: Inbox[str] = Inbox()
    taker = asyncio.create_task(inbox.take(10, 0))
    await asyncio.sleep(0)  # let the taker start waiting: a turn of the loop, not a delay
    assert not taker.done()
    inbox.put("a")
    assert await asyncio.wait_for(taker, PROMPT) == ["a"]


async def test_a_full_batch_goes_out_without_waiting_for_the_timer() -> None:
    inbox: Inbox[int] = Inbox()
    taker = asyncio.create_task(inbox.take(3, FOREVER_MS))
    await asyncio.sleep(0)
    for n in range(3):
        inbox.put(n)
    assert await asyncio.wait_for(taker, PROMPT) == [0, 1, 2]


async def test_a_partial_batch_goes_out_when_the_wait_is_over() -> None:
    inbox: Inbox[int] = Inbox()
    loop = asyncio.get_running_loop()
    inbox.put(1)
    started = loop.time()
    batch = await asyncio.wait_for(inbox.take(100, 50), PROMPT)
    assert batch == [1]
    assert loop.time() - started >= 0.05  # it did wait for more, once


async def test_items_that_arrive_while_waiting_join_the_batch() -> None:
    inbox: Inbox[int] = Inbox()
    inbox.put(1)
    taker = asyncio.create_task(inbox.take(3, FOREVER_MS))
    await asyncio.sleep(0)
    assert not taker.done()  # one item, three wanted: it waits
    await inbox.receive(2)  # what the AMQP consumer calls
    assert not taker.done()
    inbox.put(3)
    assert await asyncio.wait_for(taker, PROMPT) == [1, 2, 3]


async def test_a_batch_never_exceeds_its_limit() -> None:
    inbox: Inbox[int] = Inbox()
    taker = asyncio.create_task(inbox.take(2, FOREVER_MS))
    await asyncio.sleep(0)
    for n in range(5):
        inbox.put(n)
    assert await asyncio.wait_for(taker, PROMPT) == [0, 1]
    assert len(inbox) == 3


async def test_a_cancelled_taker_loses_no_items() -> None:
    inbox: Inbox[int] = Inbox()
    taker = asyncio.create_task(inbox.take(5, FOREVER_MS))
    await asyncio.sleep(0)
    inbox.put(1)
    await asyncio.sleep(0)
    taker.cancel()
    await asyncio.gather(taker, return_exceptions=True)
    assert taker.cancelled()
    inbox.put(2)  # no waiter left to wake: simply queued
    assert await asyncio.wait_for(inbox.take(5, 0), PROMPT) == [1, 2]
