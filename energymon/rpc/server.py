"""The gRPC server: chat, server reflection and health, on its own port and the app's loop."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from grpclib.health.check import ServiceCheck
from grpclib.health.service import Health
from grpclib.health.v1 import health_pb2
from grpclib.reflection.service import ServerReflection
from grpclib.reflection.v1 import reflection_pb2
from grpclib.reflection.v1alpha import reflection_pb2 as reflection_v1alpha_pb2
from grpclib.server import Server

from energymon.config import GrpcConfig
from energymon.lifecycle import cannot_listen
from energymon.rpc.fanout import ChatFanout
from energymon.rpc.limits import MAX_REQUEST_BYTES, BoundedRequests
from energymon.rpc.service import ChatRpc
from energymon.services.accounts import AccountService
from energymon.services.chat import ChatService
from energymon.storage import Database

_LOGGER = logging.getLogger(__name__)
# Written by scripts/gen_proto next to the generated code: our protos for reflection.
DESCRIPTOR_SET = Path(__file__).with_name("gen") / "chat.binpb"


def descriptor_pool_for_reflection() -> Any:
    """A private pool holding the chat proto (betterproto registers none) and the standard
    health and reflection protos, so reflection clients can describe every service."""
    pool = descriptor_pool.DescriptorPool()
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    seen: set[str] = set()
    for module in (health_pb2, reflection_pb2, reflection_v1alpha_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        files.file.append(proto)
    for proto in files.file:
        if proto.name not in seen:
            seen.add(proto.name)
            pool.Add(proto)
    return pool


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=1024)


class ChatServer:
    """The running gRPC server and where it listens."""

    def __init__(
        self,
        config: GrpcConfig,
        chat: ChatService,
        accounts: AccountService,
        fanout: ChatFanout,
        db: Database,
    ) -> None:
        self._config = config
        self.fanout = fanout
        self.rpc = ChatRpc(
            chat,
            accounts,
            fanout,
            recheck_seconds=config.stream_recheck_seconds,
            max_streams=config.max_streams_per_account,
        )

        async def database_answers() -> bool:
            await db.ping()
            return True

        health = Health({self.rpc: [ServiceCheck(database_answers, check_ttl=5)]})
        services = ServerReflection.extend(
            [self.rpc, health], pool=descriptor_pool_for_reflection()
        )
        self._server = Server([BoundedRequests(s, MAX_REQUEST_BYTES) for s in services])
        self.host = config.host
        self.port = 0

    async def start(self) -> None:
        try:
            sock = _listening_socket(self._config.host, self._config.port)
        except OSError as exc:
            raise cannot_listen("gRPC", self._config.host, self._config.port, exc) from None
        self.port = sock.getsockname()[1]
        self.fanout.start()
        await self._server.start(sock=sock)
        _LOGGER.info("gRPC chat on %s:%d", self.host, self.port)

    async def close(self) -> None:
        self.fanout.close()  # ends open update streams, so closing does not wait on them
        self._server.close()
        await self._server.wait_closed()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


async def serving(server: ChatServer) -> AsyncIterator[ChatServer]:
    """Start, yield, close: the body of the app's cleanup context."""
    await server.start()
    try:
        yield server
    finally:
        await server.close()
