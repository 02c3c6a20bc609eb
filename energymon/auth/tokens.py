"""Access tokens: HS256 JWTs carrying `sub` (user id), `sid` (session id), `role` and `exp`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

import jwt

from energymon.errors import Unauthorized
from energymon.models import Role

ALGORITHM = "HS256"
ISSUER = "energymon"
MAX_USER_ID = 2**63 - 1
# Session ids are 128 random bits in lower-case hex (storage/sessions.py makes them).
SESSION_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says; the account and session are checked separately."""

    user_id: int
    role: Role
    expires_at: int
    session_id: str


class TokenIssuer:
    """Signs and verifies access tokens with one secret."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        # CSRF tokens get a key of their own, so no CSRF token is ever a valid signature.
        self._csrf_key = hmac.digest(secret.encode(), b"energymon csrf", hashlib.sha256)
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: int, role: Role, session_id: str, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": str(user_id),
            "sid": session_id,
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
                options={"require": ["sub", "sid", "exp", "iat", "iss", "role"]},
            )
            user_id = int(claims["sub"])
            if not 1 <= user_id <= MAX_USER_ID:
                raise ValueError("subject out of range")
            sid = claims["sid"]
            if not isinstance(sid, str) or not SESSION_ID.fullmatch(sid):
                raise ValueError("malformed session id")
            return TokenClaims(user_id, Role(claims["role"]), int(claims["exp"]), sid)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired: log in again") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise Unauthorized("the access token is not valid") from None

    def csrf_token(self, bound_to: str) -> str:
        """The CSRF token of a session (or of a visitor's pre-session value): only this
        server can compute it, so a token planted next to someone else's cookie never fits."""
        mac = hmac.digest(self._csrf_key, bound_to.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
