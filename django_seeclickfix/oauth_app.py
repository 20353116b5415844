"""The site's SeeClickFix OAuth application and the OAuth client that speaks for it.

The application is allauth's (``SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]`` or a
``SocialApp`` row); the host is the configured environment's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from allauth.socialaccount.adapter import get_adapter

from .client.oauth import OAuthClient
from .conf import app_settings
from .provider_id import PROVIDER_ID

if TYPE_CHECKING:
    from allauth.socialaccount.models import SocialApp


def configured_app() -> SocialApp:
    """The SeeClickFix app allauth is configured with (its ``client_id`` and ``secret``)."""
    return get_adapter().get_app(None, provider=PROVIDER_ID)


def oauth_client(app: SocialApp | None = None) -> OAuthClient:
    """The OAuth client for the configured environment and ``app`` (default: the configured
    SeeClickFix app)."""
    app = app or configured_app()
    return OAuthClient(app_settings.base_url, app.client_id, app.secret or None)


__all__ = ["configured_app", "oauth_client"]
