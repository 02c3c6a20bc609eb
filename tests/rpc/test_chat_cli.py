"""`energymon chat` driven as a subprocess against a served app: a user and an admin talk."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest
from aiohttp.test_utils import TestClient

from energymon import keys
from tests.conftest import PASSWORD

WAIT = 15.0


class ChatProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[str] = []

    async def expect(self, pattern: str) -> str:
        """Read output lines until one matches `pattern` (a regular expression)."""

        async def scan() -> str:
            assert self.proc.stdout is not None
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    err = await self.proc.stderr.read() if self.proc.stderr else b""
                    raise AssertionError(
                        f"exited before {pattern!r}; output {self.seen}; {err.decode()}"
                    )
                line = raw.decode().rstrip("\n")
                self.seen.append(line)
                if re.search(pattern, line):
                    return line

        try:
            return await asyncio.wait_for(scan(), WAIT)
        except TimeoutError:
            raise AssertionError(f"no line matching {pattern!r} in {self.seen}") from None

    async def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()


async def _start(client: TestClient, email: str, password: str = PASSWORD) -> ChatProcess:
    server = client.app[keys.GRPC]
    env = {**os.environ, "ENERGYMON_CHAT_PASSWORD": password}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "energymon",
        "chat",
        "--server",
        f"{server.host}:{server.port}",
        "--email",
        email,
        "--api",
        str(client.make_url("")),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    return ChatProcess(proc)


@pytest.fixture
async def chat_cli(client: TestClient):
    started: list[ChatProcess] = []

    async def start(email: str, password: str = PASSWORD) -> ChatProcess:
        chat = await _start(client, email, password)
        started.append(chat)
        return chat

    yield start
    for chat in started:
        if chat.proc.returncode is None:
            chat.proc.kill()
            await chat.proc.wait()


async def test_a_user_and_an_admin_chat_in_the_terminal(chat_cli, alice, admin):
    user = await chat_cli("alice@example.com")
    await user.expect(r"^--- logged in as Alice$")
    await user.expect(r"^--- no messages yet$")
    operator = await chat_cli("admin@example.com")
    await operator.expect(r"^--- logged in as Admin \(admin\)$")
    await operator.expect(r"^--- no conversations yet$")

    await user.type("My meter is silent since noon")
    await user.expect(r"^\[\d\d:\d\d\] you: My meter is silent since noon$")
    await operator.expect(rf"^--- new message from Alice \(/open {alice.id}\)$")

    await operator.type("/list")
    await operator.expect(
        rf"^#{alice.id} Alice <alice@example\.com> unread 1: My meter is silent since noon$"
    )
    await operator.type("/open alice@example.com")
    await operator.expect(r"^--- conversation with Alice <alice@example\.com>$")
    await operator.expect(r"^\[\d\d:\d\d\] Alice: My meter is silent since noon$")
    await user.expect(r"^--- seen \(up to message #\d+\)$")  # opening the conversation read it

    await operator.type("/typing")
    await user.expect(r"^--- Admin is typing…$")
    await operator.type("Checking the device now")
    await user.expect(r"^\[\d\d:\d\d\] Admin: Checking the device now$")
    await operator.expect(r"^--- seen \(up to message #\d+\)$")  # alice's client read it

    await user.type("/quit")
    await operator.type("/quit")
    assert await asyncio.wait_for(user.proc.wait(), WAIT) == 0
    assert await asyncio.wait_for(operator.proc.wait(), WAIT) == 0


async def test_a_wrong_password_is_one_line(chat_cli, alice):
    chat = await chat_cli("alice@example.com", "not the password")
    assert await asyncio.wait_for(chat.proc.wait(), WAIT) == 2
    assert chat.proc.stderr is not None
    err = (await chat.proc.stderr.read()).decode().strip().splitlines()
    assert err == ["energymon: login refused: wrong email or password"]


async def test_a_user_has_no_admin_commands(chat_cli, alice):
    user = await chat_cli("alice@example.com")
    await user.expect(r"^--- no messages yet$")
    await user.type("/list")
    await user.expect(r"^commands: /typing, /more, /quit$")
    await user.type("/quit")
    assert await asyncio.wait_for(user.proc.wait(), WAIT) == 0
