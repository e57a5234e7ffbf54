"""API tokens: owner of the `api_tokens` table.

A token is `hl_<prefix>_<secret>`; only its SHA-256 hash is stored. The prefix finds the
row and the hashes are compared in constant time (hmac.compare_digest), also when no row
has that prefix. The secret has 256 bits of entropy, so a fast hash is enough (no
password-style key stretching needed). A token may expire (`expires_at`, set at creation)
and may be revoked; either ends it. Scopes: read, write (also reads), admin (also writes, and
manages tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.tables import ApiToken, utcnow
from app.errors import InvalidInput, NotFound

SCOPES = ("read", "write", "admin")
# What each scope may do: a write token may also read; an admin token may also write, and it alone
# may manage tokens over HTTP (/v1/tokens), so a leaked write token cannot mint or revoke others.
GRANTS = {"read": {"read"}, "write": {"read", "write"}, "admin": {"read", "write", "admin"}}
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# A lifetime past this is no expiry at all (and past year 9999, no date): say "until revoked" instead.
MAX_LIFETIME = timedelta(days=36_500)


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '2w', '90m', '45s' as a timedelta; InvalidInput saying the accepted form otherwise,
    or that it is longer than MAX_LIFETIME (100 years)."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(
            f"duration {text!r} is not a positive whole number followed by s, m, h, d or w (e.g. 30d)",
            field="expires_in",
        )
    try:
        duration = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        duration = None
    if duration is None or duration > MAX_LIFETIME:
        raise InvalidInput(
            f"duration {text!r} is longer than {MAX_LIFETIME.days} days: give a shorter one, or none for a "
            "token that lives until revoked",
            field="expires_in",
        )
    return duration


def create_token(
    *, session: Session, scope: str, name: str = "", expires_in: timedelta | None = None
) -> tuple[str, ApiToken]:
    """A new token: returns the plaintext (shown once) and its stored row. With `expires_in` it
    stops working that long from now."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope {scope!r} is not one of {', '.join(SCOPES)}", field="scope")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput(f"expires_in ({expires_in}) must be positive", field="expires_in")
    prefix = secrets.token_hex(6)
    token = f"hl_{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = utcnow() + expires_in if expires_in is not None else None
    row = ApiToken(prefix=prefix, token_hash=_hash(token), scope=scope, name=name, expires_at=expires_at)
    session.add(row)
    session.flush()
    return token, row


@dataclass(frozen=True)
class Check:
    """A presented token: its row when it is live, else None and why it was refused."""

    row: ApiToken | None
    refusal: str | None = None


def check(*, session: Session, token: str, now: datetime | None = None) -> Check:
    """The live token row matching `token`, or the reason it is refused: unknown or revoked
    (one message, so a guess learns nothing), or expired (only the holder of the whole secret
    is told so)."""
    parts = token.split("_", 2)
    prefix = parts[1] if len(parts) == 3 and parts[0] == "hl" else None
    row = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix)) if prefix else None
    # Compare even when no row matched, so timing does not reveal which prefixes exist.
    matches = hmac.compare_digest(row.token_hash if row else _DUMMY_HASH, _hash(token))
    if row is None or not matches or row.revoked_at is not None:
        return Check(None, "unknown or revoked token")
    if row.expires_at is not None and row.expires_at <= (now or utcnow()):
        return Check(
            None,
            f"token hl_{row.prefix}_… expired at {row.expires_at:%Y-%m-%d %H:%M} UTC: create a new one "
            "(hyperlaw token create --expires-in 30d)",
        )
    return Check(row)


def authenticate(*, session: Session, token: str, now: datetime | None = None) -> ApiToken | None:
    """The live token row matching `token`, or None (unknown, revoked or expired; `check` says which)."""
    return check(session=session, token=token, now=now).row


def allows(token: ApiToken, needed: str) -> bool:
    return needed in GRANTS.get(token.scope, set())


def state(row: ApiToken, now: datetime | None = None) -> str:
    """active, expired or revoked (revoked wins: it is final)."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def revoke_token(*, session: Session, prefix: str) -> ApiToken:
    """Revoke the token with `prefix` (NotFound when none has it); revoking twice keeps the first time."""
    row = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if row is None:
        raise NotFound("token", prefix)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def list_tokens(*, session: Session, limit: int | None = None, offset: int = 0) -> list[ApiToken]:
    """Tokens oldest first, optionally one page of them."""
    query = select(ApiToken).order_by(ApiToken.id).offset(offset)
    return list(session.scalars(query.limit(limit) if limit is not None else query))


def count_tokens(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ApiToken)) or 0
