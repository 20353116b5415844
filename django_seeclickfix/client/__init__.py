"""The SeeClickFix API client: HTTP only, no models, usable without a database.

``client_for_user`` and ``client_for_account`` live in ``django_seeclickfix.tokens`` (they need
the models) and are re-exported here lazily, so importing this package never imports models.
``service_client`` needs only settings and is imported lazily too (it reads ``SEECLICKFIX``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .auth import BasicAuth, BearerAuth, ClientAuth, Credential, TokenSource, TokenSourceAuth
from .client import SeeClickFixClient
from .etags import CacheEtagStore, EtagStore, MemoryEtagStore, NoEtagStore
from .oauth import OAuthClient, TokenResponse
from .ratelimit import DjangoCacheStore, MemoryStore, RateBudget, Unlimited
from .session import ApiSession
from .types import Comment, Created, Email, Issue, Page, Profile, Question, RequestType, User

if TYPE_CHECKING:
    from ..tokens import client_for_account, client_for_user
    from .service import service_client

_LAZY = {
    "client_for_user": "django_seeclickfix.tokens",
    "client_for_account": "django_seeclickfix.tokens",
    "service_client": "django_seeclickfix.client.service",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Deferred: these need models (tokens) or settings (service), which the client package
    # itself never imports, so the client works in a plain script.
    from importlib import import_module

    return getattr(import_module(module), name)


__all__ = [
    "ApiSession",
    "BasicAuth",
    "BearerAuth",
    "CacheEtagStore",
    "ClientAuth",
    "Comment",
    "Created",
    "Credential",
    "DjangoCacheStore",
    "Email",
    "EtagStore",
    "Issue",
    "MemoryEtagStore",
    "MemoryStore",
    "NoEtagStore",
    "OAuthClient",
    "Page",
    "Profile",
    "Question",
    "RateBudget",
    "RequestType",
    "SeeClickFixClient",
    "TokenResponse",
    "TokenSource",
    "TokenSourceAuth",
    "Unlimited",
    "User",
    "client_for_account",
    "client_for_user",
    "service_client",
]
