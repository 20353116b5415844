"""Sign-in with a token a mobile app already holds: allauth headless's provider token.

A city's mobile app signs its user in at SeeClickFix through the implicit flow and holds the
access token; it hands that token to this site with
``POST /_allauth/app/v1/auth/provider/token``. allauth calls the provider's ``verify_token``,
which comes here. Nothing is linked until, in this order:

1. the token is a usable bearer token (the relay's own rules, :func:`flow.token_from_fragment`);
2. SeeClickFix's token info says it was issued to the app the request names, which must be one
   of this site's configured apps (:func:`flow.check_audience`, the relay's own audience check:
   a token minted for another app is refused, and so is one SeeClickFix no longer accepts);
3. ``GET /profile`` with it names a real user (:func:`flow.fetch_profile`).

Then allauth's pipeline (login, signup or connect) runs on a :class:`TokenLogin`. The token
travels sealed, as in the browser flows. allauth's headless view opens no transaction of its own,
so :class:`TokenLogin` checks a connect before allauth saves anything (signed in, and the
linking rules) and stores the link *while* allauth saves the social account, in one
transaction: a refusal under the linking rules' row locks (a parallel link) rolls back what
allauth just saved. Every refusal reaches the app as a 400 in allauth's error shape, with one of
:mod:`~django_seeclickfix.errorcodes`' codes. The first sync is queued after commit, as in
the browser flows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from allauth.core import context
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base.constants import AuthProcess
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from ..conf import app_settings
from ..errorcodes import E_BY_EMAIL, E_LOGIN_REQUIRED, E_PROFILE, E_TOKEN, message_for
from ..exceptions import LinkRefused, SeeClickFixError
from ..linking import LINKED_ATTRIBUTE, check_can_link, link_from_sociallogin
from ..site_faults import SiteFault, report
from . import flow

if TYPE_CHECKING:
    from .provider import SeeClickFixProvider

logger = logging.getLogger(__name__)

# What a mobile app may send beside the access token (the implicit flow's fragment fields).
TOKEN_FIELDS = ("access_token", "token_type", "expires_in", "scope")


def refusal(code: str) -> ValidationError:
    """A refusal as allauth's headless views answer it: 400, ``errors[].code`` is ``code``."""
    return ValidationError(str(message_for(code)), code=code)


class TokenLogin(SocialLogin):  # type: ignore[misc]
    """allauth's ``SocialLogin`` for a provider-token sign-in: linking refusals become
    ``ValidationError`` (a 400, not a server error) and leave nothing saved."""

    @classmethod
    def from_login(cls, login: SocialLogin) -> TokenLogin:
        token_login = cls.__new__(cls)
        token_login.__dict__.update(vars(login))
        return token_login

    def lookup(self) -> None:
        # allauth looks the account up first thing (its process is known by now): a connect is
        # checked here, as the browser flows check it before allauth touches anything.
        if self.state.get("process") == AuthProcess.CONNECT:
            self._check_connect(context.request)
        # An existing social account is relinked right here (allauth's social_account_updated).
        try:
            with transaction.atomic():
                super().lookup()
        except LinkRefused as refused:
            raise refusal(refused.code) from refused
        if self._did_authenticate_by_email:
            # linking's pre_social_login receiver would refuse with a LinkRefused, which
            # allauth's headless view does not catch: refuse the same way, as a 400.
            raise refusal(E_BY_EMAIL)

    def _check_connect(self, request: HttpRequest) -> None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            raise refusal(E_LOGIN_REQUIRED)  # allauth would answer a bare 403 page
        try:
            check_can_link(user, app_settings.ENVIRONMENT, int(self.account.extra_data["id"]))
        except LinkRefused as refused:
            raise refusal(refused.code) from refused

    def save(self, request: HttpRequest, connect: bool = False) -> None:
        try:
            with transaction.atomic():
                super().save(request, connect=connect)
                link_from_sociallogin(request, self)
        except LinkRefused as refused:
            raise refusal(refused.code) from refused
        setattr(self, LINKED_ATTRIBUTE, True)


def _fields(token: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, str]:
    """The token as the relay would receive it, SeeClickFix's token info winning over the app's
    word for expiry and scope."""
    fields = {
        key: str(value)
        for key in TOKEN_FIELDS
        if isinstance(value := token.get(key), str | int) and not isinstance(value, bool)
    }
    if "expires_in" in info:
        expires_in = info["expires_in"]
        if isinstance(expires_in, int) and not isinstance(expires_in, bool):
            fields["expires_in"] = str(expires_in)
        elif expires_in is None:
            fields.pop("expires_in", None)  # Doorkeeper: no expiry
    scope = info.get("scope")
    if isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        fields["scope"] = " ".join(scope)
    return fields


def verify_token(
    provider: SeeClickFixProvider, request: HttpRequest, token: Mapping[str, Any]
) -> SocialLogin:
    """allauth's ``Provider.verify_token`` for SeeClickFix (see the module docstring)."""
    access = token.get("access_token")
    if not isinstance(access, str) or flow.token_from_fragment({"access_token": access}) is None:
        raise refusal(E_TOKEN)
    refused, info = flow.check_audience(provider, access)
    if isinstance(refused, SiteFault):
        report(refused, during="GET /oauth/token/info (provider token)")
        raise refusal(refused.code)
    if refused:
        raise refusal(refused)
    received = flow.token_from_fragment(_fields(token, info))
    if received is None:
        raise refusal(E_TOKEN)
    try:
        profile = flow.fetch_profile(received.access_token)
    except LinkRefused as err:
        raise refusal(err.code) from err
    except SeeClickFixError as err:
        logger.info("SeeClickFix token sign-in stopped: /profile failed (%s)", type(err).__name__)
        raise refusal(E_PROFILE) from err
    try:
        sealed = flow.seal_token(received)
    except (OverflowError, ValueError) as err:  # an absurd expires_in
        raise refusal(E_TOKEN) from err
    login = TokenLogin.from_login(provider.sociallogin_from_response(request, profile))
    login.token = sealed
    if provider.app.pk:
        login.token.app = provider.app
    return login


__all__ = ["TokenLogin", "verify_token"]
