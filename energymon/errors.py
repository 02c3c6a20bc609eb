"""Domain errors: raised by services, mapped to a status once per transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Where an input was: the request body, a query parameter, or a path parameter.
Location = Literal["body", "query", "path"]


@dataclass(frozen=True)
class FieldError:
    """One problem with one input: a dotted body field such as `email`, or a parameter."""

    field: str
    message: str
    location: Location = "body"


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Invalid(DomainError):
    """The input breaks a rule; optionally per field."""

    status = 422
    title = "Invalid input"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class BadRequest(DomainError):
    """The request itself cannot be read (malformed JSON, empty body)."""

    status = 400
    title = "Bad request"


class Unauthorized(DomainError):
    """No valid identity: missing, expired or forged credentials, or a disabled account."""

    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    """The identity is known but may not do this."""

    status = 403
    title = "Forbidden"


class NotFound(DomainError):
    """The thing does not exist, or is not visible to the caller."""

    status = 404
    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state (duplicate email, last admin...)."""

    status = 409
    title = "Conflict"


class TooManyRequests(DomainError):
    """Throttled; retry after the given number of seconds."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class Unavailable(DomainError):
    """A dependency (the database) cannot be reached right now."""

    status = 503
    title = "Service unavailable"


class Contention(Unavailable):
    """A write lost a race with another writer (deadlock, duplicate insert); retrying helps."""
