"""Declared operations: each handler's `Call[Query, Body]` is what its route validates."""

from __future__ import annotations

import typing

import pytest

from energymon.api.router import Call, Operation
from energymon.app import API_ROUTERS

OPERATIONS = [op for router in API_ROUTERS for op in router.operations]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.operation_id)
def test_the_handler_types_the_query_and_body_its_route_validates(op: Operation) -> None:
    call = typing.get_type_hints(op.handler)["call"]
    assert typing.get_origin(call) in (Call, None)
    typed = typing.get_args(call) or (None, None)
    # The route validates no body of its own when the handler reads the body itself.
    validated = (op.query, None if op.raw_body else op.body)
    assert [_none(t) for t in typed] == [_none(t) for t in validated]


def _none(kind: object) -> object:
    """`Call[None, B]` holds NoneType, a default None itself."""
    return None if kind is type(None) else kind
