"""Sealed token bundles: tokens encrypted (Fernet, ``TOKEN_KEYS``) while they travel.

Two kinds, one format (version 1, bound to the environment and host that issued the tokens):

* the bundle the OAuth flow hands to allauth as its ``SocialToken``, so allauth, its
  session-stored pending signups and ``SOCIALACCOUNT_STORE_TOKENS`` never see a token in clear;
  :mod:`~django_seeclickfix.linking` opens it to store the tokens (:func:`unseal_tokens`);
* the bundle a 0.1 ``revoke_tokens`` message carried (:func:`open_revocation`; revocations are
  database rows now, see :mod:`~django_seeclickfix.revocation`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils.dateparse import parse_datetime

from .conf import app_settings
from .exceptions import TokenDecryptionError
from .fields import decrypt, encrypt

if TYPE_CHECKING:
    from .client.oauth import TokenResponse

logger = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class SealedTokens:
    """The opened content of a sealed bundle."""

    access_token: str
    refresh_token: str | None
    token_type: str
    expires_at: datetime | None
    scope: str
    environment: str
    host: str

    def __repr__(self) -> str:
        return f"SealedTokens(environment={self.environment!r}, expires_at={self.expires_at!r})"


def _seal(
    *,
    environment: str,
    access: str | None,
    refresh: str | None,
    token_type: str = "Bearer",  # noqa: S107
    expires_at: datetime | None = None,
    scope: str = "",
) -> str:
    payload = {
        "v": 1,
        "env": environment,
        "host": app_settings.base_url,
        "a": access,
        "r": refresh,
        "t": token_type,
        "e": expires_at.isoformat() if expires_at else None,
        "s": scope,
    }
    return str(encrypt(json.dumps(payload)))


def _open(sealed: str, what: str) -> dict[str, Any]:
    data = json.loads(decrypt(sealed, what=what))
    if not isinstance(data, dict):
        raise TokenDecryptionError(f"{what} has an unknown format.")
    return data


def seal_tokens(token: TokenResponse, *, received_at: datetime) -> str:
    """Encrypt what linking needs from a token response, bound to the current environment."""
    return _seal(
        environment=app_settings.ENVIRONMENT,
        access=token.access_token,
        refresh=token.refresh_token,
        token_type=token.token_type or "Bearer",
        expires_at=token.expires_at(received_at),
        scope=token.scope or "",
    )


def unseal_tokens(sealed: str) -> SealedTokens:
    what = "A sealed SeeClickFix token bundle"
    data = _open(sealed, what)
    if data.get("v") != 1 or not data.get("a"):
        raise TokenDecryptionError(f"{what} has an unknown format.")
    expires = parse_datetime(data["e"]) if data.get("e") else None
    return SealedTokens(
        access_token=str(data["a"]),
        refresh_token=str(data["r"]) if data.get("r") else None,
        token_type=str(data.get("t") or "Bearer")[:40],
        expires_at=expires,
        scope=str(data.get("s") or "")[:255],
        environment=str(data.get("env")),
        host=str(data.get("host")),
    )


def open_revocation(sealed: str) -> tuple[str | None, str | None]:
    """The (access token, refresh token) a 0.1 revocation bundle holds."""
    data = _open(sealed, "A sealed SeeClickFix revocation")
    access, refresh = data.get("a"), data.get("r")
    return (str(access) if access else None, str(refresh) if refresh else None)


__all__ = [
    "SealedTokens",
    "open_revocation",
    "seal_tokens",
    "unseal_tokens",
]
