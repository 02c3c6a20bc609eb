"""A served process with open Socket.IO connections stops promptly and closes them."""

from __future__ import annotations

import asyncio
import time

import pytest

from energymon.models import Role
from tests.processes import ServerProcess, server_env


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_serve_stops_promptly_with_clients_connected(tmp_path, db_url, listen, make_actor):
    alice = await make_actor(Role.USER)
    server = ServerProcess(server_env(db_url), tmp_path / "server.log")
    await server.start()
    try:
        clients = [await listen(server.url, alice) for _ in range(3)]
        began = time.monotonic()
        assert server.proc is not None
        server.proc.terminate()
        await asyncio.to_thread(server.proc.wait, 15)
        assert time.monotonic() - began < 3, server.log.read_text()[-2000:]
        assert server.proc.returncode == 0, server.log.read_text()[-2000:]
        for client in clients:
            await asyncio.wait_for(client.disconnected.wait(), 5)
    finally:
        server.stop()
