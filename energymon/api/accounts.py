"""Register, log in, and who am I."""

from __future__ import annotations

from energymon import keys
from energymon.api.router import ApiRouter, Call, Reply
from energymon.api.schemas import LoginIn, PasswordChangeIn, RegisterIn, TokenOut, UserOut
from energymon.api.session import client_address

router = ApiRouter()


@router.route(
    "POST",
    "/api/v1/auth/register",
    summary="Create a user account",
    tag="accounts",
    auth="public",
    body=RegisterIn,
    response=UserOut,
    status=201,
    errors=(409, 429),
)
async def register(call: Call[None, RegisterIn]) -> UserOut:
    """Anyone may register; the new account has the `user` role. Log in afterwards."""
    body = call.body
    user = await call.app[keys.ACCOUNTS].register(
        email=body.email,
        password=body.password,
        name=body.name,
        address=client_address(call.request),
    )
    return UserOut.of(user)


@router.route(
    "POST",
    "/api/v1/auth/login",
    summary="Log in and get an access token",
    tag="accounts",
    auth="public",
    body=LoginIn,
    response=TokenOut,
    errors=(401, 429),
)
async def login(call: Call[None, LoginIn]) -> TokenOut:
    """Returns a bearer token (JWT). Repeated failures for one account or address get 429
    with `Retry-After`."""
    body = call.body
    session = await call.app[keys.ACCOUNTS].login(
        email=body.email, password=body.password, address=client_address(call.request)
    )
    return TokenOut(
        access_token=session.token, expires_in=session.expires_in, user=UserOut.of(session.user)
    )


@router.route(
    "GET",
    "/api/v1/me",
    summary="The calling account",
    tag="accounts",
    auth="user",
    response=UserOut,
)
async def get_me(call: Call) -> UserOut:
    """The account the access token belongs to."""
    return UserOut.of(await call.app[keys.ACCOUNTS].me(call.me))


@router.route(
    "POST",
    "/api/v1/auth/logout",
    summary="Log out: end this token's session",
    tag="accounts",
    auth="user",
    status=204,
)
async def logout(call: Call) -> Reply:
    """The token (and its browser session, Socket.IO connections and chat streams) stops
    working at once, in every process."""
    await call.app[keys.ACCOUNTS].logout(call.me)
    return Reply(204)


@router.route(
    "POST",
    "/api/v1/me/password",
    summary="Change my password",
    tag="accounts",
    auth="user",
    body=PasswordChangeIn,
    status=204,
    errors=(429,),
)
async def change_password(call: Call[None, PasswordChangeIn]) -> Reply:
    """Needs the current password; wrong guesses count as failed logins (429 with
    `Retry-After` past the limit). Every other session of the account ends; this one stays."""
    body = call.body
    await call.app[keys.ACCOUNTS].change_password(
        call.me,
        current_password=body.current_password,
        new_password=body.new_password,
        address=client_address(call.request),
    )
    return Reply(204)
