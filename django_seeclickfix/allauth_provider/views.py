"""The provider's views: start (allauth's login view), code-flow callback, implicit-flow relay."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.internal.decorators import login_not_required
from allauth.core.internal.httpkit import add_query_params
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.internal import statekit
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2LoginView
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View

from ..errorcodes import E_CANCELLED, E_STATE, E_TOKEN
from ..provider_id import PROVIDER_ID
from ..site_faults import SiteFault
from . import flow
from .provider import SeeClickFixProvider

logger = logging.getLogger(__name__)

# What the relay page copies from the fragment into its POST.
RELAY_FIELDS = (
    "state",
    "access_token",
    "token_type",
    "expires_in",
    "scope",
    "error",
    "error_description",
)


class SeeClickFixOAuth2Adapter(OAuth2Adapter):  # type: ignore[misc]
    """allauth's login view needs an adapter class. It holds no URLs: the provider's
    ``redirect`` builds the authorize URL (``OAuthClient.authorization_url``) and this package's
    callback and relay views call the token endpoint through ``OAuthClient``."""

    provider_id = PROVIDER_ID


def _provider(request: HttpRequest) -> SeeClickFixProvider:
    provider = get_social_adapter(request).get_provider(request, PROVIDER_ID)
    assert isinstance(provider, SeeClickFixProvider)
    return provider


def _take_state(
    request: HttpRequest, provider: SeeClickFixProvider, state_id: str | None
) -> dict[str, Any] | None:
    """Pop the state (single use: it is gone even if the callback then fails)."""
    if not state_id or len(state_id) > 200:
        return None
    state = statekit.unstash_state(request, provider_id=provider.sub_id, state_id=state_id)
    return state if isinstance(state, dict) else None


def _strict_samesite_retry(request: HttpRequest, provider: SeeClickFixProvider) -> Any:
    """With SameSite=Strict the cross-site callback arrives without the session cookie: allauth's
    answer is one same-site reload, which does carry it."""
    samesite = settings.SESSION_COOKIE_SAMESITE
    if "_redir" in request.GET or not isinstance(samesite, str) or samesite.lower() != "strict":
        return None
    return render(
        request,
        f"socialaccount/login_redirect.{account_settings.TEMPLATE_EXTENSION}",
        {
            "provider": provider,
            "redirect_to": add_query_params(request.get_full_path(), {"_redir": ""}),
        },
    )


def _provider_error(
    request: HttpRequest,
    provider: SeeClickFixProvider,
    state: dict[str, Any],
    error: str,
) -> HttpResponse:
    code = E_CANCELLED if error == "access_denied" else E_TOKEN
    return flow.fail(request, provider, code, state=state)


@method_decorator([login_not_required, flow.secure_flow], name="dispatch")
class CallbackView(View):
    """Code flow: ``GET ?code=...&state=...`` (or ``?error=...&state=...``)."""

    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        provider = _provider(request)
        state = _take_state(request, provider, request.GET.get("state"))
        if state is None:
            return _strict_samesite_retry(request, provider) or flow.fail(
                request, provider, E_STATE
            )
        refused = flow.check_binding(request, provider, state, flow.CODE)
        if refused:
            return flow.fail(request, provider, refused, state=state)
        if "error" in request.GET:
            return _provider_error(request, provider, state, request.GET.get("error", ""))
        code = request.GET.get("code", "")
        if not code or len(code) > 4096:
            return flow.fail(request, provider, E_TOKEN, state=state)
        token = flow.exchange_code(request, provider, state, code)
        if isinstance(token, HttpResponse):
            return token
        return flow.finish(request, provider, state, token)


@method_decorator([login_not_required, flow.secure_flow], name="dispatch")
class RelayView(View):
    """Implicit flow. ``GET``: a first-party page that moves the fragment into a POST (and out of
    the address bar and history). ``POST``: checks the state, then goes on like the code flow."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(18)
        response = render(
            request,
            "seeclickfix/relay.html",
            {"nonce": nonce, "fields": RELAY_FIELDS, "action": reverse(flow.RELAY_URL_NAME)},
        )
        response["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; base-uri 'none'; "
            "frame-ancestors 'none'"
        )
        response["X-Frame-Options"] = "DENY"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        provider = _provider(request)
        state = _take_state(request, provider, request.POST.get("state"))
        if state is None:
            return flow.fail(request, provider, E_STATE)
        refused = flow.check_binding(request, provider, state, flow.IMPLICIT)
        if refused:
            return flow.fail(request, provider, refused, state=state)
        if request.POST.get("error"):
            return _provider_error(request, provider, state, request.POST["error"])
        token = flow.token_from_fragment(request.POST)
        if token is None:
            return flow.fail(request, provider, E_TOKEN, state=state)
        audience, _ = flow.check_audience(provider, token.access_token)
        if isinstance(audience, SiteFault):
            return flow.stop_for_site(
                request, provider, audience, during="GET /oauth/token/info", state=state
            )
        if audience:
            return flow.fail(request, provider, audience, state=state)
        return flow.finish(request, provider, state, token)


oauth2_login = OAuth2LoginView.adapter_view(SeeClickFixOAuth2Adapter)
oauth2_callback = CallbackView.as_view()
relay = RelayView.as_view()
