"""/v1/tokens: create, list and revoke API tokens over HTTP; admin tokens only (AdminAccess), so a
leaked read or write token can neither mint tokens nor revoke anyone's. The same as `hyperlaw token`,
for a service whose database the admin cannot reach."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app import tokens
from app.api.deps import ADMIN_ONLY, AdminAccess, SessionDep
from app.api.schemas import MAX_OFFSET, TokenCreate, TokenCreated, TokenList, TokenPublic
from app.db.tables import ApiToken, utcnow

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])

Prefix = Annotated[
    str, Path(min_length=1, max_length=32, description="The token's prefix (hl_<prefix>_...).")
]


def _public(row: ApiToken) -> dict:
    return {
        "prefix": row.prefix,
        "scope": row.scope,
        "name": row.name,
        "state": tokens.state(row, utcnow()),
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
    }


@router.post(
    "",
    status_code=201,
    response_model=TokenCreated,
    dependencies=[AdminAccess],
    openapi_extra=dict(ADMIN_ONLY),
)
def create_token(body: TokenCreate, session: SessionDep) -> TokenCreated:
    """Create a token of any scope; the answer holds it once (only its hash is stored). A bad
    `expires_in` is a 422 saying the accepted form."""
    lifetime = tokens.parse_duration(body.expires_in) if body.expires_in is not None else None
    token, row = tokens.create_token(session=session, scope=body.scope, name=body.name, expires_in=lifetime)
    return TokenCreated(token=token, **_public(row))


@router.get("", response_model=TokenList, dependencies=[AdminAccess], openapi_extra=dict(ADMIN_ONLY))
def list_tokens(
    session: SessionDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)
) -> TokenList:
    """Every token, oldest first: prefix, scope, state and dates, never the secret."""
    rows = tokens.list_tokens(session=session, limit=limit, offset=offset)
    return TokenList(
        items=[TokenPublic(**_public(row)) for row in rows],
        total=tokens.count_tokens(session=session),
        limit=limit,
        offset=offset,
    )


@router.post(
    "/{prefix}/revoke", response_model=TokenPublic, dependencies=[AdminAccess], openapi_extra=dict(ADMIN_ONLY)
)
def revoke_token(prefix: Prefix, session: SessionDep) -> TokenPublic:
    """Revoke a token at once (404 for an unknown prefix; revoking twice keeps the first time)."""
    return TokenPublic(**_public(tokens.revoke_token(session=session, prefix=prefix)))
