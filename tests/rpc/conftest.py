"""Fixtures for the gRPC chat: the app served with its gRPC port, and callers per account."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc_tools
import pytest
from aiohttp.test_utils import TestClient
from grpclib import GRPCError
from grpclib.client import Channel, Stream
from grpclib.const import Cardinality, Status

import energymon.rpc.gen.energymon.chat.v1 as pb
from energymon import keys
from tests.conftest import Actor

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto" / "energymon" / "chat" / "v1" / "chat.proto"
SUBSCRIBE = "/energymon.chat.v1.ChatService/Subscribe"
WAIT = 5.0


def auth(actor: Actor | str) -> dict[str, str]:
    token = actor if isinstance(actor, str) else actor.token
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def grpc_address(client: TestClient) -> tuple[str, int]:
    """The served app's gRPC host and port (the app listens on free ports)."""
    server = client.app[keys.GRPC]
    return server.host, server.port


@pytest.fixture
async def channel(grpc_address: tuple[str, int]) -> AsyncIterator[Channel]:
    chan = Channel(*grpc_address)
    yield chan
    chan.close()


@pytest.fixture
def stub(channel: Channel) -> Callable[[Actor | str], pb.ChatServiceStub]:
    """A betterproto stub (grpclib) calling as the given account or raw token."""
    return lambda actor: pb.ChatServiceStub(channel, metadata=auth(actor), timeout=WAIT)


@contextlib.asynccontextmanager
async def raw_subscribe(
    channel: Channel, actor: Actor | str, conversation_id: int = 0
) -> AsyncIterator[Stream[pb.SubscribeRequest, pb.Update]]:
    """A Subscribe stream opened by hand (to read its ending), registered on the server."""
    async with channel.request(
        SUBSCRIBE, Cardinality.UNARY_STREAM, pb.SubscribeRequest, pb.Update, metadata=auth(actor)
    ) as stream:
        await stream.send_message(pb.SubscribeRequest(conversation_id=conversation_id), end=True)
        await asyncio.wait_for(stream.recv_initial_metadata(), WAIT)
        yield stream


async def ended_with(stream: Stream[pb.SubscribeRequest, pb.Update], timeout: float) -> Status:
    """The status a stream ends with, within `timeout` and without any further update."""
    assert await asyncio.wait_for(stream.recv_message(), timeout) is None
    try:
        await stream.recv_trailing_metadata()
    except GRPCError as exc:
        return exc.status
    raise AssertionError("the stream ended without an error status")


class Updates:
    """An open Subscribe stream read through grpclib; updates collected as they arrive."""

    def __init__(self, stream: Stream[pb.SubscribeRequest, pb.Update]) -> None:
        self.stream = stream
        self.queue: asyncio.Queue[pb.Update | BaseException] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _pump(self) -> None:
        try:
            async for update in self.stream:
                self.queue.put_nowait(update)
        except BaseException as exc:
            self.queue.put_nowait(exc)
            raise

    async def next(self, timeout: float = WAIT) -> pb.Update:
        item = await asyncio.wait_for(self.queue.get(), timeout)
        if isinstance(item, BaseException):
            raise item
        return item

    async def nothing(self, wait: float = 0.3) -> None:
        """Assert no update arrives within `wait` seconds."""
        await asyncio.sleep(wait)
        assert self.queue.empty(), f"unexpected update: {self.queue.get_nowait()}"


@pytest.fixture
async def subscribe(channel: Channel) -> AsyncIterator[Callable[..., Any]]:
    """Open Subscribe streams; each is registered on the server when this returns."""
    opened: list[tuple[Updates, contextlib.AsyncExitStack]] = []

    async def open_stream(actor: Actor | str, conversation_id: int = 0) -> Updates:
        stack = contextlib.AsyncExitStack()
        stream = await stack.enter_async_context(
            channel.request(
                SUBSCRIBE,
                Cardinality.UNARY_STREAM,
                pb.SubscribeRequest,
                pb.Update,
                metadata=auth(actor),
            )
        )
        await stream.send_message(pb.SubscribeRequest(conversation_id=conversation_id), end=True)
        # The server sends its headers once the stream is registered.
        await asyncio.wait_for(stream.recv_initial_metadata(), WAIT)
        updates = Updates(stream)
        updates.task = asyncio.create_task(updates._pump())
        opened.append((updates, stack))
        return updates

    yield open_stream
    for updates, stack in opened:
        assert updates.task is not None
        updates.task.cancel()
        with contextlib.suppress(BaseException):
            await updates.task
        with contextlib.suppress(BaseException):
            # Without a cancel the client would wait for the stream's trailers forever.
            await updates.stream.cancel()
        with contextlib.suppress(BaseException):
            await stack.aclose()


# ---- the official grpcio client, with stubs protoc makes from the same proto ----------------


@pytest.fixture(scope="session")
def grpcio_modules(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    """chat_pb2 and chat_pb2_grpc from grpcio-tools, under names of their own."""
    out = tmp_path_factory.mktemp("grpcio_stubs")
    # A file name of its own: the generated modules must not shadow the energymon package.
    shutil.copy(PROTO, out / "grpcio_chat.proto")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{out}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "grpcio_chat.proto",
        ],
        check=True,
        cwd=out,
    )
    sys.path.insert(0, str(out))
    try:
        modules = []
        for name in ("grpcio_chat_pb2", "grpcio_chat_pb2_grpc"):
            spec = importlib.util.spec_from_file_location(name, out / f"{name}.py")
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            modules.append(module)
    finally:
        sys.path.remove(str(out))
    return modules[0], modules[1]
