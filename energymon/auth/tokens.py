"""Access tokens: HS256 JWTs carrying `sub` (user id), `role` and `exp`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from energymon.errors import Unauthorized
from energymon.models import Role

ALGORITHM = "HS256"
ISSUER = "energymon"
MAX_USER_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says; the account itself is checked separately."""

    user_id: int
    role: Role
    expires_at: int


class TokenIssuer:
    """Signs and verifies access tokens with one secret."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: int, role: Role, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": str(user_id),
            "role": role.value,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "iss": ISSUER,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> TokenClaims:
        """Check signature, algorithm, issuer and expiry; Unauthorized otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["sub", "exp", "iat", "iss", "role"]},
            )
            user_id = int(claims["sub"])
            if not 1 <= user_id <= MAX_USER_ID:
                raise ValueError("subject out of range")
            return TokenClaims(user_id, Role(claims["role"]), int(claims["exp"]))
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired: log in again") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise Unauthorized("the access token is not valid") from None
