"""Role checks shared by the services."""

from __future__ import annotations

from energymon.errors import FieldError, Forbidden, Invalid
from energymon.models import Principal

# The users.email column's width.
EMAIL_MAX = 254


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this needs the admin role")


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively: store and look them up in lower case."""
    return email.strip().lower()


def storable_email(email: str) -> str:
    """The normalised email to store; Invalid when lower-casing made it too long to store.

    Lower-casing can lengthen text ("İ" becomes "i" plus a combining dot), so an address
    that passed the length check can still overflow the column.
    """
    email = normalize_email(email)
    if len(email) > EMAIL_MAX:
        message = f"must have at most {EMAIL_MAX} characters in lower case"
        raise Invalid(f"email: {message}", [FieldError("email", message)])
    return email
