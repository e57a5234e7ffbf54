"""Domain errors raised by the owner modules; app/api/errors.py maps them to HTTP in one place."""

from __future__ import annotations


class HyperlawError(Exception):
    """Base class: a failure that the user can act on; the message says how."""


class NotFound(HyperlawError):
    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident!r} does not exist")
        self.kind = kind
        self.ident = ident


class InvalidInput(HyperlawError):
    """Input that passed schema validation but makes no sense (422), naming the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(HyperlawError):
    """The request clashes with the current state (409): a duplicate name, a finished run cancelled."""
