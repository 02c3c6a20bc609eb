"""Admin management of users."""

from __future__ import annotations

from energymon import keys
from energymon.api.router import ApiRouter, Call, Reply
from energymon.api.schemas import UserCreate, UserListQuery, UserOut, UserPage, UserUpdate

router = ApiRouter()
TAG = "users"


@router.route(
    "GET",
    "/api/v1/users",
    summary="List users",
    tag=TAG,
    auth="admin",
    query=UserListQuery,
    response=UserPage,
)
async def list_users(call: Call[UserListQuery]) -> UserPage:
    """Users ordered by id; `q` keeps those whose email contains it."""
    q = call.query
    limit = q.capped_limit()
    users, total = await call.app[keys.USERS].list(
        call.me, search=q.q, limit=limit, offset=q.offset
    )
    return UserPage(items=[UserOut.of(u) for u in users], total=total, limit=limit, offset=q.offset)


@router.route(
    "POST",
    "/api/v1/users",
    summary="Create a user",
    tag=TAG,
    auth="admin",
    body=UserCreate,
    response=UserOut,
    status=201,
    errors=(409,),
)
async def create_user(call: Call[None, UserCreate]) -> UserOut:
    """Create an account of either role."""
    b = call.body
    user = await call.app[keys.USERS].create(
        call.me, email=b.email, password=b.password, name=b.name, role=b.role, disabled=b.disabled
    )
    return UserOut.of(user)


@router.route(
    "GET",
    "/api/v1/users/{user_id}",
    summary="Get a user",
    tag=TAG,
    auth="admin",
    response=UserOut,
)
async def get_user(call: Call) -> UserOut:
    """One user."""
    return UserOut.of(await call.app[keys.USERS].get(call.me, call.path["user_id"]))


@router.route(
    "PATCH",
    "/api/v1/users/{user_id}",
    summary="Update a user",
    tag=TAG,
    auth="admin",
    body=UserUpdate,
    response=UserOut,
    errors=(409,),
)
async def update_user(call: Call[None, UserUpdate]) -> UserOut:
    """Change any of email, name, role, disabled, password. Disabling a user ends their
    sessions at once. Admins cannot disable or demote themselves."""
    b = call.body
    changes = b.model_dump(exclude_unset=True)
    user = await call.app[keys.USERS].update(call.me, call.path["user_id"], changes)
    return UserOut.of(user)


@router.route(
    "DELETE",
    "/api/v1/users/{user_id}",
    summary="Delete a user",
    tag=TAG,
    auth="admin",
    status=204,
    errors=(409,),
)
async def delete_user(call: Call) -> Reply:
    """Delete the account; its devices stay, as orphans. Admins cannot delete themselves."""
    await call.app[keys.USERS].delete(call.me, call.path["user_id"])
    return Reply(204)
