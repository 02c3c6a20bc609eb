"""The gRPC ChatService: authenticate, translate to and from the proto, map errors once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from grpclib import GRPCError
from grpclib.const import Handler, Status
from grpclib.server import Stream

import energymon.rpc.gen.energymon.chat.v1 as pb
from energymon.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from energymon.events import ChatEvent, ChatMessagePosted, ChatRead, ChatTyping, ChatUnread
from energymon.models import ChatMessage, Conversation, Principal, Role
from energymon.rpc.fanout import ChatFanout, Listener, StreamClosed, StreamOverflow
from energymon.rpc.limits import StreamSlots
from energymon.services.accounts import AccountService
from energymon.services.chat import ChatService, side_of

_LOGGER = logging.getLogger(__name__)

# Most specific first: Contention is an Unavailable, and so on.
_STATUS: tuple[tuple[type[DomainError], Status], ...] = (
    (Unauthorized, Status.UNAUTHENTICATED),
    (Forbidden, Status.PERMISSION_DENIED),
    (Invalid, Status.INVALID_ARGUMENT),
    (BadRequest, Status.INVALID_ARGUMENT),
    (NotFound, Status.NOT_FOUND),
    (Conflict, Status.FAILED_PRECONDITION),
    (TooManyRequests, Status.RESOURCE_EXHAUSTED),
    (Unavailable, Status.UNAVAILABLE),
)


def grpc_error(exc: DomainError) -> GRPCError:
    """The one place domain errors become gRPC statuses."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return GRPCError(status, exc.detail)
    return GRPCError(Status.INVALID_ARGUMENT, exc.detail)


@asynccontextmanager
async def _mapped_errors() -> AsyncIterator[None]:
    try:
        yield
    except DomainError as exc:
        raise grpc_error(exc) from None


def bearer_token(metadata: Any) -> str:
    """The token of `authorization: Bearer <jwt>`; Unauthorized when absent or malformed."""
    value = metadata.get("authorization") if metadata is not None else None
    if not value:
        raise Unauthorized("missing `authorization: Bearer <token>` metadata")
    scheme, _, token = str(value).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the authorization metadata must be `Bearer <token>`")
    return token.strip()


# ---- between domain models and proto messages ----------------------------------------------

# pb.Role(...): mypy cannot see betterproto's Enum base and reads its members as ints.
_ROLE = {Role.USER: pb.Role(pb.Role.USER), Role.ADMIN: pb.Role(pb.Role.ADMIN)}


def pb_stored(message: ChatMessage) -> pb.ChatMessage:
    return pb.ChatMessage(
        id=message.id,
        conversation_id=message.user_id,
        sender_id=message.sender_id or 0,
        sender_name=message.sender_name,
        sender_role=_ROLE[message.side],
        text=message.text,
        created_at=datetime.fromtimestamp(message.created_ms / 1000, UTC),
    )


def pb_conversation(conversation: Conversation) -> pb.Conversation:
    result = pb.Conversation(
        id=conversation.user_id,
        user_name=conversation.user_name,
        user_email=conversation.user_email,
        unread=conversation.unread,
        user_read_id=conversation.user_read_id,
        admin_read_id=conversation.admin_read_id,
    )
    if conversation.latest is not None:
        result.latest = pb_stored(conversation.latest)
    return result


def pb_update(event: ChatEvent) -> pb.Update:
    """A chat event as the update a stream sends."""
    cid = event.conversation_id
    match event:
        case ChatMessagePosted(message=message):
            return pb.Update(message=pb_stored(message))
        case ChatTyping():
            return pb.Update(
                typing=pb.Typing(
                    conversation_id=cid,
                    sender_id=event.sender_id,
                    sender_name=event.sender_name,
                    sender_role=_ROLE[event.sender_role],
                    typing=event.typing,
                )
            )
        case ChatRead():
            return pb.Update(
                read=pb.ReadReceipt(
                    conversation_id=cid,
                    reader_id=event.reader_id,
                    reader_role=_ROLE[event.reader_role],
                    message_id=event.message_id,
                )
            )
        case ChatUnread():
            return pb.Update(
                unread=pb.UnreadCount(
                    conversation_id=cid, side=_ROLE[event.side], unread=event.unread
                )
            )
    raise ValueError(f"no update for {event.kind}")


# ---- the service ---------------------------------------------------------------------------


class ChatRpc(pb.ChatServiceBase):
    """energymon.chat.v1.ChatService over ChatService.

    betterproto's generated handlers hand methods only the request; ours need the call's
    metadata (the token), so `__mapping__` routes each RPC to a method taking the stream,
    keeping the generated request and reply types.
    """

    def __init__(
        self,
        chat: ChatService,
        accounts: AccountService,
        fanout: ChatFanout,
        *,
        recheck_seconds: float = 60.0,
        max_streams: int = 16,
    ) -> None:
        self._chat = chat
        self._accounts = accounts
        self._fanout = fanout
        self._recheck = recheck_seconds
        self._streams = StreamSlots(max_streams)

    def __mapping__(self) -> dict[str, Handler]:
        ours: dict[str, Callable[[Stream[Any, Any]], Awaitable[None]]] = {
            "Post": self._post,
            "History": self._history,
            "ListConversations": self._list_conversations,
            "Subscribe": self._subscribe,
        }
        return {
            path: Handler(ours[path.rsplit("/", 1)[1]], h.cardinality, h.request_type, h.reply_type)
            for path, h in super().__mapping__().items()
        }

    async def _begin(self, stream: Stream[Any, Any]) -> tuple[Principal, str, Any]:
        """Who is calling (from the metadata) and what they ask (the request)."""
        token = bearer_token(stream.metadata)
        principal = await self._accounts.authenticate(token)
        try:
            request = await stream.recv_message()
        except (GRPCError, asyncio.CancelledError):
            raise
        except Exception as exc:
            # A body that is not the request message is the caller's error, not ours.
            raise BadRequest(f"the request is not a valid message: {exc}") from None
        if request is None:
            raise BadRequest("no request message")
        return principal, token, request

    async def _post(self, stream: Stream[pb.PostRequest, pb.PostResponse]) -> None:
        async with _mapped_errors():
            principal, _token, request = await self._begin(stream)
            cid = request.conversation_id
            response = pb.PostResponse()
            match request.type:
                case pb.MessageType.CONTENT:
                    message = await self._chat.post(principal, cid, request.text)
                    response.message = pb_stored(message)
                case pb.MessageType.TYPING_START | pb.MessageType.TYPING_END:
                    typing = request.type == pb.MessageType.TYPING_START
                    await self._chat.typing(principal, cid, typing)
                case pb.MessageType.ACK:
                    await self._chat.read(principal, cid, request.message_id)
                case _:
                    raise Invalid("type: must be CONTENT, TYPING_START, TYPING_END or ACK")
        await stream.send_message(response)

    async def _history(self, stream: Stream[pb.HistoryRequest, pb.HistoryResponse]) -> None:
        async with _mapped_errors():
            principal, _token, request = await self._begin(stream)
            page = await self._chat.history(
                principal,
                request.conversation_id,
                before_id=request.before_id or None,
                limit=request.limit,
            )
        await stream.send_message(
            pb.HistoryResponse(
                messages=[pb_stored(m) for m in page.messages],
                next_before_id=page.next_before_id or 0,
                conversation=pb_conversation(page.conversation),
            )
        )

    async def _list_conversations(
        self, stream: Stream[pb.ListConversationsRequest, pb.ListConversationsResponse]
    ) -> None:
        async with _mapped_errors():
            principal, _token, request = await self._begin(stream)
            found, total = await self._chat.conversations(
                principal, limit=request.limit, offset=request.offset
            )
        await stream.send_message(
            pb.ListConversationsResponse(
                conversations=[pb_conversation(c) for c in found], total=total
            )
        )

    async def _subscribe(self, stream: Stream[pb.SubscribeRequest, pb.Update]) -> None:
        async with _mapped_errors():
            principal, token, request = await self._begin(stream)
            cid = await self._chat.open(principal, request.conversation_id)
            slot = self._streams.take(principal.user_id)
        with slot, self._fanout.listen(side_of(principal), cid, principal) as listener:
            # Checked once more now that the stream hears revocations: a session ended
            # between the first check and here would otherwise last until the re-check.
            async with _mapped_errors():
                await self._still_allowed(token, principal)
            watcher = asyncio.create_task(self._watch(token, principal, listener))
            try:
                # Headers go out now: the caller knows the stream is open before any update.
                await stream.send_initial_metadata()
                while True:
                    try:
                        batch = await listener.take()
                    except DomainError as exc:
                        raise grpc_error(exc) from None
                    except StreamOverflow as exc:
                        raise GRPCError(Status.RESOURCE_EXHAUSTED, str(exc)) from None
                    except StreamClosed as exc:
                        raise GRPCError(Status.UNAVAILABLE, str(exc)) from None
                    for event in batch:
                        await stream.send_message(pb_update(event))
            finally:
                watcher.cancel()

    async def _still_allowed(self, token: str, opened_as: Principal) -> None:
        """Unauthorized once the token's session has ended, Forbidden once the account lost
        the role the stream was opened with (an admin's stream shows every conversation)."""
        principal = await self._accounts.authenticate(token)
        if principal.role != opened_as.role:
            raise Forbidden("your role changed: open the stream again")

    async def _watch(self, token: str, opened_as: Principal, listener: Listener) -> None:
        """End the stream once its token expires, its session ends or its role changes.

        Ended sessions and role changes end streams at once through the hub (ChatFanout);
        this re-check covers expiry, and an event lost while the broker was unreachable.
        """
        while True:
            await asyncio.sleep(self._recheck)
            try:
                await self._still_allowed(token, opened_as)
            except (Unauthorized, Forbidden) as exc:
                listener.end(exc)
                return
            except DomainError:
                continue  # the database is down for a moment: not the caller's fault
