"""The allauth provider class. allauth finds it through ``django_seeclickfix.provider``."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider
from django.http import HttpRequest, HttpResponse

from ..conf import app_settings
from ..provider_id import PROVIDER_ID, social_uid
from .flow import start_authorization
from .token_login import verify_token


class SeeClickFixProviderAccount(ProviderAccount):  # type: ignore[misc]
    def get_avatar_url(self) -> str | None:
        avatar = self.account.extra_data.get("avatar")
        if isinstance(avatar, dict):
            url = avatar.get("square_100x100") or avatar.get("full")
            return str(url) if url else None
        return None

    def to_str(self) -> str:
        name = self.account.extra_data.get("name")
        return str(name) if name else super().to_str()


class SeeClickFixProvider(OAuth2Provider):  # type: ignore[misc]
    id = PROVIDER_ID
    name = "SeeClickFix"
    package = "django_seeclickfix.allauth_provider"
    account_class = SeeClickFixProviderAccount
    supports_redirect = True
    # allauth headless's provider token: a mobile app signs in with the token it got from
    # SeeClickFix's implicit flow (token_login.py).
    supports_token_authentication = True

    @property
    def oauth2_adapter_class(self) -> Any:
        # allauth's provider <-> views pattern: the views import this class.
        from .views import SeeClickFixOAuth2Adapter

        return SeeClickFixOAuth2Adapter

    @property
    def pkce_enabled_default(self) -> bool:
        # allauth's OAUTH_PKCE_ENABLED (provider settings or the app's settings) wins when set.
        return bool(app_settings.PKCE)

    def redirect(
        self,
        request: HttpRequest,
        process: Any,
        next_url: str | None = None,
        data: Any = None,
        **kwargs: Any,
    ) -> HttpResponse:
        return start_authorization(self, request, process, next_url=next_url, data=data, **kwargs)

    def verify_token(self, request: HttpRequest, token: dict[str, Any]) -> Any:
        return verify_token(self, request, token)

    def extract_uid(self, data: dict[str, Any]) -> str:
        return social_uid(int(data["id"]), app_settings.ENVIRONMENT)

    def extract_common_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key in ("email", "first_name", "last_name"):
            if isinstance(data.get(key), str) and data[key]:
                fields[key] = data[key]
        if "first_name" not in fields and isinstance(data.get("name"), str) and data["name"]:
            first, _, last = data["name"].strip().partition(" ")
            fields["first_name"], fields["last_name"] = first, last
        return fields

    def cleanup_email_addresses(
        self, email: str | None, addresses: list[Any], email_verified: bool = False
    ) -> str | None:
        cleaned = super().cleanup_email_addresses(email, addresses, email_verified=False)
        # SeeClickFix does not say whether an address was confirmed, and linking is keyed on the
        # SeeClickFix user id only: an address from SeeClickFix never counts as verified, so
        # allauth can never log anyone in or connect anything by matching it.
        for address in addresses:
            address.verified = False
        return cleaned  # type: ignore[no-any-return]


provider_classes = [SeeClickFixProvider]
