"""The SeeClickFix API client: HTTP only, no models, usable without a database.

``client_for_user`` and ``client_for_account`` live in ``django_seeclickfix.tokens`` (they need
the models) and are re-exported here lazily, so importing this package never imports models.
"""

from __future__ import annotations

from typing import Any

from .auth import BasicAuth, BearerAuth, ClientAuth, Credential, TokenSource, TokenSourceAuth
from .oauth import OAuthClient, TokenResponse
from .ratelimit import RateBudget
from .session import ApiSession

_FROM_TOKENS = ("client_for_user", "client_for_account")


def __getattr__(name: str) -> Any:
    if name in _FROM_TOKENS:
        from .. import tokens

        return getattr(tokens, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApiSession",
    "BasicAuth",
    "BearerAuth",
    "ClientAuth",
    "Credential",
    "OAuthClient",
    "RateBudget",
    "TokenResponse",
    "TokenSource",
    "TokenSourceAuth",
    "client_for_account",
    "client_for_user",
]
