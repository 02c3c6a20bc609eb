"""Role checks shared by the services."""

from __future__ import annotations

from energymon.errors import Forbidden
from energymon.models import Principal


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this needs the admin role")


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively: store and look them up in lower case."""
    return email.strip().lower()
