"""`energymon chat`: a terminal chat client over gRPC (logs in through the REST API).

Lines typed are sent as messages; commands start with `/`: /typing, /more, /quit, and for
admins /list and /open <user id or email>.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import aiohttp
import betterproto
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Cardinality

import energymon.rpc.gen.energymon.chat.v1 as pb

TYPING_IDLE_SECONDS = 5.0
HISTORY_LINES = 20
# mypy cannot see betterproto's Enum base and reads the members as plain ints; looked up by
# value they have their enum type.
ACK = pb.MessageType(pb.MessageType.ACK)
CONTENT = pb.MessageType(pb.MessageType.CONTENT)
TYPING_START = pb.MessageType(pb.MessageType.TYPING_START)
TYPING_END = pb.MessageType(pb.MessageType.TYPING_END)


class ChatClientError(Exception):
    """Something the person at the terminal must fix: one line, no traceback."""


@dataclass
class Login:
    token: str
    user_id: int
    name: str
    is_admin: bool


def parse_server(server: str) -> tuple[str, int]:
    host, sep, port = server.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ChatClientError(f"--server must be HOST:PORT, not {server!r}")
    return host.strip("[]"), int(port)


async def login(api: str, email: str, password: str) -> Login:
    url = api.rstrip("/") + "/api/v1/auth/login"
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json={"email": email, "password": password}) as resp,
        ):
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, ValueError) as exc:
        raise ChatClientError(f"cannot log in through {api}: {exc}") from None
    if resp.status != 200:
        detail = body.get("detail") if isinstance(body, dict) else None
        raise ChatClientError(f"login refused: {detail or resp.status}")
    user = body["user"]
    return Login(body["access_token"], user["id"], user["name"], user["role"] == "admin")


def _clock(stamp: datetime | None) -> str:
    return stamp.astimezone().strftime("%H:%M") if stamp else "--:--"


class Terminal:
    """The chat session: one update stream, stdin lines in, lines out."""

    def __init__(self, channel: Channel, me: Login, api: str, out: TextIO) -> None:
        self._stub = pb.ChatServiceStub(
            channel, metadata={"authorization": f"Bearer {me.token}"}, timeout=15
        )
        self._me = me
        self._api = api
        self._out = out
        # Users chat in their own conversation; admins pick one with /open.
        self._open: int | None = None if me.is_admin else me.user_id
        self._oldest: int = 0
        self._typing_task: asyncio.Task[None] | None = None

    def say(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def _show(self, message: pb.ChatMessage) -> None:
        who = "you" if message.sender_id == self._me.user_id else message.sender_name
        self.say(f"[{_clock(message.created_at)}] {who}: {message.text}")

    async def _ack(self, message: pb.ChatMessage) -> None:
        """Tell the other side we have seen their message."""
        if message.sender_id == self._me.user_id:
            return
        side = pb.Role.ADMIN if self._me.is_admin else pb.Role.USER
        if message.sender_role == side:
            return
        await self._stub.post(
            pb.PostRequest(
                conversation_id=message.conversation_id,
                type=ACK,
                message_id=message.id,
            )
        )

    async def show_history(self, before: int = 0) -> None:
        assert self._open is not None
        page = await self._stub.history(
            pb.HistoryRequest(conversation_id=self._open, before_id=before, limit=HISTORY_LINES)
        )
        conversation = page.conversation
        if not before:
            title = f"{conversation.user_name} <{conversation.user_email}>"
            self.say(f"--- conversation with {title if self._me.is_admin else 'the operators'}")
        if not page.messages:
            self.say("--- no messages yet" if not before else "--- no older messages")
        for message in page.messages:
            self._show(message)
        if page.next_before_id:
            self.say("--- /more shows older messages")
        self._oldest = page.next_before_id
        if page.messages and not before:
            await self._ack(page.messages[-1])

    async def list_conversations(self) -> None:
        listing = await self._stub.list_conversations(pb.ListConversationsRequest(limit=50))
        if not listing.conversations:
            self.say("--- no conversations yet")
        for c in listing.conversations:
            latest = c.latest.text if c.latest else ""
            self.say(f"#{c.id} {c.user_name} <{c.user_email}> unread {c.unread}: {latest[:60]}")

    async def _resolve(self, who: str) -> int:
        if who.isdigit():
            return int(who)
        listing = await self._stub.list_conversations(pb.ListConversationsRequest(limit=200))
        for c in listing.conversations:
            if c.user_email.lower() == who.lower():
                return c.id
        url = self._api.rstrip("/") + "/api/v1/users"
        headers = {"Authorization": f"Bearer {self._me.token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, params={"q": who}, headers=headers) as resp,
        ):
            body = await resp.json(content_type=None)
        for user in body.get("items", []) if isinstance(body, dict) else []:
            if user.get("email", "").lower() == who.lower():
                return int(user["id"])
        raise ChatClientError(f"no user {who}")

    async def command(self, line: str) -> bool:
        """Handle one input line; False to quit."""
        verb, _, arg = line.partition(" ")
        if verb == "/quit":
            return False
        if verb == "/list" and self._me.is_admin:
            await self.list_conversations()
        elif verb == "/open" and self._me.is_admin:
            if not arg.strip():
                self.say("usage: /open <user id or email>")
            else:
                self._open = await self._resolve(arg.strip())
                await self.show_history()
        elif verb == "/more" and self._open is not None:
            if self._oldest:
                await self.show_history(self._oldest)
            else:
                self.say("--- no older messages")
        elif verb == "/typing" and self._open is not None:
            await self._typing(True)
        elif verb.startswith("/"):
            extra = ", /list, /open <user>" if self._me.is_admin else ""
            self.say(f"commands: /typing, /more, /quit{extra}")
        elif self._open is None:
            self.say("--- /open <user> first (/list shows the conversations)")
        elif line.strip():
            if self._typing_task is not None:
                self._typing_task.cancel()
                self._typing_task = None
            await self._stub.post(
                pb.PostRequest(conversation_id=self._open, type=CONTENT, text=line)
            )
        return True

    async def _typing(self, typing: bool) -> None:
        kind = TYPING_START if typing else TYPING_END
        await self._stub.post(pb.PostRequest(conversation_id=self._open or 0, type=kind))
        if typing:
            if self._typing_task is not None:
                self._typing_task.cancel()
            self._typing_task = asyncio.create_task(self._stop_typing_later())

    async def _stop_typing_later(self) -> None:
        await asyncio.sleep(TYPING_IDLE_SECONDS)
        self._typing_task = None
        await self._typing(False)

    async def updates(self, opened: asyncio.Event) -> None:
        """Print what happens, as it happens (the raw stream, to know when it is open)."""
        request = pb.SubscribeRequest(conversation_id=0 if self._me.is_admin else self._me.user_id)
        async with self._stub.channel.request(
            "/energymon.chat.v1.ChatService/Subscribe",
            Cardinality.UNARY_STREAM,
            pb.SubscribeRequest,
            pb.Update,
            metadata=self._stub.metadata,
        ) as stream:
            await stream.send_message(request, end=True)
            await stream.recv_initial_metadata()
            opened.set()
            async for update in stream:
                await self._on_update(update)

    async def _on_update(self, update: pb.Update) -> None:
        kind, _ = betterproto.which_one_of(update, "update")
        if kind == "message":
            message = update.message
            if message.conversation_id == self._open:
                self._show(message)
                await self._ack(message)
            elif message.sender_id != self._me.user_id:
                cid = message.conversation_id
                self.say(f"--- new message from {message.sender_name} (/open {cid})")
        elif kind == "typing" and update.typing.conversation_id == self._open:
            state = "is typing…" if update.typing.typing else "stopped typing"
            self.say(f"--- {update.typing.sender_name} {state}")
        elif kind == "read" and update.read.conversation_id == self._open:
            if update.read.reader_id != self._me.user_id:
                self.say(f"--- seen (up to message #{update.read.message_id})")


async def _stdin_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run(server: str, email: str, api: str | None, password: str) -> None:
    host, port = parse_server(server)
    api = api or f"http://{host}:8080"
    me = await login(api, email, password)
    channel = Channel(host, port)
    terminal = Terminal(channel, me, api, sys.stdout)
    try:
        terminal.say(f"--- logged in as {me.name}{' (admin)' if me.is_admin else ''}")
        opened = asyncio.Event()
        stream = asyncio.create_task(terminal.updates(opened))
        waiting = asyncio.create_task(opened.wait())
        await asyncio.wait({stream, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if stream.done():
            waiting.cancel()
            stream.result()  # raises why the stream could not open
        if me.is_admin:
            await terminal.list_conversations()
        else:
            await terminal.show_history()
        lines = await _stdin_lines()
        reading = asyncio.create_task(_chat_loop(terminal, lines))
        done, _ = await asyncio.wait({stream, reading}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stream, reading):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            if not task.cancelled():
                task.result()
    except GRPCError as exc:
        raise ChatClientError(f"{exc.status.name}: {exc.message}") from None
    except (OSError, ConnectionError) as exc:
        raise ChatClientError(f"cannot reach the chat server {server}: {exc}") from None
    finally:
        channel.close()


async def _chat_loop(terminal: Terminal, lines: asyncio.StreamReader) -> None:
    while raw := await lines.readline():
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        try:
            if not await terminal.command(line):
                return
        except GRPCError as exc:
            terminal.say(f"--- refused: {exc.message or exc.status.name}")
        except ChatClientError as exc:
            terminal.say(f"--- {exc}")


def main(args: Any, password: str) -> int:
    try:
        asyncio.run(run(args.server, args.email, args.api, password))
    except ChatClientError as exc:
        print(f"energymon: {exc}", file=sys.stderr)
        return 2
    return 0
