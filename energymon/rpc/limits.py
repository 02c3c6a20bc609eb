"""gRPC limits grpclib does not have: the size of a request, open streams per account."""

from __future__ import annotations

import struct
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any

from grpclib import GRPCError
from grpclib.const import Handler, Status
from grpclib.server import Stream

from energymon.errors import TooManyRequests

# The largest request message any method accepts (a chat message is at most 4 KiB of text).
MAX_REQUEST_BYTES = 64 * 1024


async def recv_bounded(stream: Stream[Any, Any], limit: int) -> Any:
    """grpclib's `Stream.recv_message`, refusing a message longer than `limit` bytes.

    grpclib has no receive limit: it reads a whole message, however long its 5-byte length
    prefix says it is. Here the prefix is checked first and nothing of the body is read, so
    HTTP/2 flow control holds the client to the stream window (4 MiB) until the refusal
    resets the stream.
    """
    h2_stream = stream._stream
    meta = await h2_stream.recv_data(5)
    if not meta:
        return None
    compressed, length = struct.unpack(">?I", meta)
    if compressed:
        raise GRPCError(Status.UNIMPLEMENTED, "compressed requests are not supported")
    if length > limit:
        raise GRPCError(
            Status.RESOURCE_EXHAUSTED,
            f"a request may be at most {limit} bytes; this one is {length}",
        )
    message = stream._codec.decode(await h2_stream.recv_data(length), stream._recv_type)
    (message,) = await stream._dispatch.recv_message(message)
    # The bookkeeping grpclib's own recv_message does (keepalive reads it).
    stream._messages_received += 1
    h2_stream.connection.messages_received += 1
    h2_stream.connection.last_message_received = time.monotonic()
    return message


class BoundedRequests:
    """A service whose handlers read requests through `recv_bounded`, whatever they call."""

    def __init__(self, service: Any, limit: int) -> None:
        self._service = service
        self._limit = limit

    def _wrap(
        self, func: Callable[[Stream[Any, Any]], Awaitable[None]]
    ) -> Callable[[Stream[Any, Any]], Awaitable[None]]:
        limit = self._limit

        async def handle(stream: Stream[Any, Any]) -> None:
            async def recv_message() -> Any:
                return await recv_bounded(stream, limit)

            # grpclib builds the Stream itself and offers no hook for how it reads.
            stream.recv_message = recv_message  # type: ignore[method-assign]
            await func(stream)

        return handle

    def __mapping__(self) -> dict[str, Handler]:
        return {
            path: Handler(self._wrap(h.func), h.cardinality, h.request_type, h.reply_type)
            for path, h in self._service.__mapping__().items()
        }


class StreamSlots:
    """Counts the open streams of each account; the table holds only accounts with one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[int, int] = {}

    def take(self, user_id: int) -> ExitStack:
        """Take a place now (TooManyRequests when the account has none left); leaving the
        returned context gives it back."""
        held = self._open.get(user_id, 0)
        if held >= self.limit:
            raise TooManyRequests(
                f"at most {self.limit} open update streams per account: close one first",
                retry_after=1,
            )
        self._open[user_id] = held + 1
        release = ExitStack()
        release.callback(self._release, user_id)
        return release

    def _release(self, user_id: int) -> None:
        left = self._open[user_id] - 1
        if left:
            self._open[user_id] = left
        else:
            del self._open[user_id]
