"""Revoking a removed link's tokens at SeeClickFix (RFC 7009), from their sealed bundle."""

from __future__ import annotations

from .client.oauth import OAuthClient
from .oauth_app import oauth_client
from .sealing import open_revocation


def revoke_sealed_tokens(sealed: str, *, client: OAuthClient | None = None) -> None:
    """Revoke the tokens in ``sealed`` at SeeClickFix (refresh token first, then access token).

    A 200 for a token SeeClickFix no longer knows counts as done. Raises ``TransientError`` /
    ``RateLimited`` when worth retrying, another ``SeeClickFixError`` when not.
    """
    access, refresh = open_revocation(sealed)
    client = client or oauth_client()
    if refresh:
        client.revoke(refresh, token_type_hint="refresh_token")  # noqa: S106
    if access:
        client.revoke(access, token_type_hint="access_token")  # noqa: S106


__all__ = ["revoke_sealed_tokens"]
