"""The two reference consumers: a bare consume-and-ack loop, and the naive design.

Run as `python -m benchmarks.consumers bare|naive AMQP_URL QUEUE [MYSQL_DSN]`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime

import aio_pika
import aiomysql


async def bare(url: str, queue_name: str) -> None:
    """The ceiling: prefetch 1,000, ack with multiple=True every 500, no database."""
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1000)
    queue = await channel.get_queue(queue_name)
    count = 0
    async with queue.iterator() as messages:
        async for message in messages:
            count += 1
            if count % 500 == 0:
                await message.ack(multiple=True)


async def naive(url: str, queue_name: str, dsn: str) -> None:
    """What most implementations do: per message, insert the reading, sum the device's last
    hour to compare with its limit, commit, ack."""
    user, rest = dsn.split("@", 1)
    host, db = rest.split("/", 1)
    pool = await aiomysql.create_pool(host=host, user=user, db=db, autocommit=True, maxsize=4)
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=100)
    queue = await channel.get_queue(queue_name)
    async with queue.iterator() as messages:
        async for message in messages:
            reading = json.loads(message.body)
            async with pool.acquire() as conn, conn.cursor() as cur:
                mwh = round(reading["value"] * 1_000_000)
                await cur.execute(
                    "INSERT IGNORE INTO readings (device_id, ts, value_mwh, consumption_mwh)"
                    " VALUES (%s, %s, %s, %s)",
                    (reading["device_id"], reading["ts"], mwh, mwh),
                )
                await cur.execute(
                    "SELECT COALESCE(SUM(consumption_mwh), 0) FROM readings"
                    " WHERE device_id = %s AND ts > %s AND ts <= %s",
                    (reading["device_id"], reading["ts"] - 3600, reading["ts"]),
                )
                (total,) = await cur.fetchone()
                await cur.execute(
                    "SELECT max_hourly_wh FROM devices WHERE id = %s", (reading["device_id"],)
                )
                (limit_wh,) = await cur.fetchone()
                if total > limit_wh * 1000:
                    print(datetime.now(), "over limit", reading, flush=True)
            await message.ack()


def main() -> None:
    kind, url, queue = sys.argv[1:4]
    if kind == "bare":
        asyncio.run(bare(url, queue))
    else:
        asyncio.run(naive(url, queue, sys.argv[4]))


if __name__ == "__main__":
    main()
