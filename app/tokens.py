"""API tokens: owner of the `api_tokens` table.

A token is `hl_<prefix>_<secret>`; only its SHA-256 hash is stored. The prefix finds the
row and the hashes are compared in constant time (hmac.compare_digest). The secret has
256 bits of entropy, so a fast hash is enough (no password-style key stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.tables import ApiToken, utcnow
from app.errors import InvalidInput, NotFound

SCOPES = ("read", "write")
# What each scope may do: a write token may also read.
GRANTS = {"read": {"read"}, "write": {"read", "write"}}
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, session: Session, scope: str, name: str = "") -> tuple[str, ApiToken]:
    """A new token: returns the plaintext (shown once) and its stored row."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope {scope!r} is not one of {', '.join(SCOPES)}", field="scope")
    prefix = secrets.token_hex(6)
    token = f"hl_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(prefix=prefix, token_hash=_hash(token), scope=scope, name=name)
    session.add(row)
    session.flush()
    return token, row


def authenticate(*, session: Session, token: str) -> ApiToken | None:
    """The live token row matching `token`, or None."""
    parts = token.split("_", 2)
    prefix = parts[1] if len(parts) == 3 and parts[0] == "hl" else None
    row = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix)) if prefix else None
    # Compare even when no row matched, so timing does not reveal which prefixes exist.
    matches = hmac.compare_digest(row.token_hash if row else _DUMMY_HASH, _hash(token))
    if row is None or not matches or row.revoked_at is not None:
        return None
    return row


def allows(token: ApiToken, needed: str) -> bool:
    return needed in GRANTS.get(token.scope, set())


def revoke_token(*, session: Session, prefix: str) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if row is None:
        raise NotFound("token", prefix)
    row.revoked_at = utcnow()
    return row


def list_tokens(*, session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
