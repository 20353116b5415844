"""The OAuth dance around allauth's machinery: start, state checks, token exchange, completion.

allauth keeps the state (in the session, single use, with the PKCE verifier sealed) and runs the
login / signup / connect pipeline. This module adds what SeeClickFix needs on top:

* the state is 256 random bits and carries a binding: environment, host, client id, flow,
  redirect URI, the user who started the flow, and when. A callback whose state does not match
  this session, this configuration and this user, or is older than ``STATE_MAX_AGE``, makes no
  token request and links nothing;
* the token exchange and ``GET /profile`` go through this package's client (User-Agent,
  timeouts, rate budget, error mapping);
* the implicit flow (apps SeeClickFix registered without a secret) ends in a relay page that posts
  the fragment back, then continues exactly like the code flow;
* tokens never reach allauth in clear: the ``SocialToken`` handed to allauth holds a sealed
  (encrypted) bundle that :mod:`django_seeclickfix.linking` opens to store the tokens.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from allauth import app_settings as allauth_settings
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.helpers import complete_social_login
from allauth.socialaccount.models import SocialApp, SocialToken
from allauth.socialaccount.providers.base.constants import AuthProcess
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from ..allauth_messages import replace_connected_message
from ..client.auth import BearerAuth, sendable_token
from ..client.client import SeeClickFixClient
from ..client.oauth import MAX_EXPIRES_IN, TokenResponse
from ..conf import app_settings
from ..errorcodes import (
    E_AUDIENCE,
    E_CANCELLED,
    E_ENVIRONMENT,
    E_LOGIN_REQUIRED,
    E_METHOD,
    E_PROCESS,
    E_PROFILE,
    E_SITE,
    E_STATE,
    E_TOKEN,
    message_for,
)
from ..exceptions import (
    APIError,
    LinkRefused,
    ReauthRequired,
    SeeClickFixError,
    TokenDecryptionError,
    error_text,
)
from ..fields import decrypt, encrypt
from ..linking import IN_FLOW_ATTRIBUTE, check_can_link
from ..oauth_app import oauth_client
from ..sealing import seal_tokens
from ..site_faults import SiteFault, audience_fault, classify, report

if TYPE_CHECKING:
    from .provider import SeeClickFixProvider

logger = logging.getLogger(__name__)

STATE_KEY = "seeclickfix"
CALLBACK_URL_NAME = "seeclickfix_callback"
RELAY_URL_NAME = "seeclickfix_relay"
CODE = "code"
IMPLICIT = "implicit"

MAX_ID = 2**63  # SeeClickFix ids are stored in a BigIntegerField

# Every answer of the flow's views: no Referer leaks a code or state to a third party, and no
# cache (the browser's included) keeps a page that carried them.
SECURITY_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)


# --- configuration ---------------------------------------------------------------------------


def flow_for(app: SocialApp) -> str:
    """``code`` or ``implicit``: FLOW, where ``auto`` means implicit only without a secret."""
    configured = app_settings.FLOW
    if configured == "auto":
        return CODE if app.secret else IMPLICIT
    return str(configured)


def site_root() -> str:
    """Scheme and host of this site, from SITE_URL or the sites framework; never the request."""
    if app_settings.SITE_URL:
        return str(app_settings.SITE_URL)
    if apps.is_installed("django.contrib.sites"):
        # Deferred: the sites framework's models import only when it is installed.
        from allauth.account import app_settings as account_settings
        from django.contrib.sites.models import Site

        domain = Site.objects.get_current().domain
        return f"{account_settings.DEFAULT_HTTP_PROTOCOL}://{domain}"
    raise ImproperlyConfigured(
        'Set SEECLICKFIX["SITE_URL"] to this site\'s public root (e.g. '
        "'https://civic.example.org'): the OAuth redirect URI is built from it."
    )


def redirect_uri(flow: str) -> str:
    """The exact redirect URI registered with SeeClickFix for ``flow``."""
    name = RELAY_URL_NAME if flow == IMPLICIT else CALLBACK_URL_NAME
    return site_root() + reverse(name)


def bound_user(request: HttpRequest) -> str | None:
    """The signed-in user as the state records it (``None`` when signed out)."""
    user = getattr(request, "user", None)
    return str(user.pk) if user is not None and user.is_authenticated else None


def binding(request: HttpRequest, app: SocialApp, flow: str) -> dict[str, Any]:
    """What a callback must match: configuration, flow, user, time."""
    return {
        "env": app_settings.ENVIRONMENT,
        "host": app_settings.base_url,
        "client": app.client_id,
        "flow": flow,
        "uri": redirect_uri(flow),
        "user": bound_user(request),
        "iat": time.time(),
    }


def safe_next(request: HttpRequest, next_url: str | None, *, headless: bool) -> str | None:
    """``next`` only if it is a local path (headless: allauth already vetted the front end URL)."""
    if not next_url:
        return None
    if headless:
        return next_url
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in next_url) or "\\" in next_url:
        return None
    if not next_url.startswith("/") or next_url.startswith("//"):
        return None
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts=None):
        return None
    return next_url


# --- errors ------------------------------------------------------------------------------------


def secure_flow(view: Callable[P, R]) -> Callable[P, R]:
    """Set :data:`SECURITY_HEADERS` on whatever ``view`` answers (its errors included)."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        response = view(*args, **kwargs)
        for header, value in SECURITY_HEADERS.items():
            response[header] = value
        return response

    return wrapped


def fail(
    request: HttpRequest,
    provider: SeeClickFixProvider,
    code: str,
    *,
    state: Mapping[str, Any] | None = None,
    status: int = 400,
    exception: BaseException | None = None,
) -> HttpResponse:
    """Stop the flow: headless clients get a redirect with ``?error=<code>``, browsers a page."""
    extra: dict[str, Any] = {"state": dict(state) if state is not None else None}
    message = message_for(code)
    error = LinkRefused(code, str(message), status=status)
    try:
        get_social_adapter(request).on_authentication_error(
            request, provider, error=code, exception=exception or error, extra_context=extra
        )
        if allauth_settings.HEADLESS_ENABLED:
            # Deferred: allauth.headless imports only when it is installed (HEADLESS_ENABLED).
            from allauth.headless.socialaccount import internal

            internal.on_authentication_error(
                request, provider=provider, error=code, exception=error, extra_context=extra
            )
    except ImmediateHttpResponse as redirect:
        answer: HttpResponse = redirect.response
        return answer
    # A deny is the user's choice, not an error, and allauth's own "Login Cancelled" page speaks
    # of logging in even during a connect: the library's page says what happened.
    return render(
        request,
        "seeclickfix/login_error.html",
        {"code": code, "message": message, "provider": provider},
        status=200 if code == E_CANCELLED else status,
    )


def stop_for_site(
    request: HttpRequest,
    provider: SeeClickFixProvider,
    fault: SiteFault,
    *,
    during: str,
    state: Mapping[str, Any] | None = None,
    exception: BaseException | None = None,
) -> HttpResponse:
    """Stop the flow for a fault only the site's operators can fix: an ERROR line for them, a
    message without "try again" for the user (503 when the site itself is down)."""
    report(fault, during=during)
    status = 503 if fault.code == E_SITE else 400
    return fail(request, provider, fault.code, state=state, status=status, exception=exception)


def described(error: BaseException) -> str:
    """A failure for an INFO line: :func:`~django_seeclickfix.exceptions.error_text` (its type
    and message, which carries the OAuth error code) and the status of a failed answer."""
    status = getattr(error, "status", None)
    return error_text(error) if status is None else f"{error_text(error)} (status {status})"


# --- start -------------------------------------------------------------------------------------


@secure_flow
def start_authorization(
    provider: SeeClickFixProvider,
    request: HttpRequest,
    process: Any,
    *,
    next_url: str | None = None,
    data: Any = None,
    **kwargs: Any,
) -> HttpResponse:
    headless = bool(kwargs.get("headless"))
    # allauth passes scope and auth_params read from the query string; SeeClickFix gets only
    # what the settings say, never parameters chosen by whoever crafted the link.
    kwargs.pop("scope", None)
    kwargs.pop("auth_params", None)
    if request.method != "POST":
        return fail(request, provider, E_METHOD, status=405)
    if process not in (AuthProcess.LOGIN, AuthProcess.CONNECT):
        return fail(request, provider, E_PROCESS)
    if process == AuthProcess.CONNECT and not request.user.is_authenticated:
        return fail(request, provider, E_LOGIN_REQUIRED, status=403)
    app = provider.app
    flow = flow_for(app)
    bound = binding(request, app, flow)
    verifier = challenge = None
    if flow == CODE:
        pkce = provider.get_pkce_params()
        verifier = pkce.get("code_verifier")
        challenge = pkce.get("code_challenge")
    state_id = secrets.token_urlsafe(32)  # 256 bits; allauth's default is 95
    provider.stash_redirect_state(
        request,
        process,
        safe_next(request, next_url, headless=headless),
        data,
        state_id=state_id,
        # Sealed: with cookie-based sessions the state travels to the browser, and the verifier
        # must reach nobody but SeeClickFix's token endpoint.
        pkce_code_verifier=str(encrypt(verifier)) if verifier else None,
        **{STATE_KEY: bound},
        **kwargs,
    )
    url = oauth_client(app).authorization_url(
        bound["uri"],
        state_id,
        response_type="token" if flow == IMPLICIT else "code",
        code_challenge=challenge,
        scope=" ".join(provider.get_scope()) or None,
        # Extra AUTH_PARAMS from the settings; they never replace the parameters above.
        extra=provider.get_auth_params(),
    )
    return HttpResponseRedirect(url)


# --- callback ----------------------------------------------------------------------------------


def check_binding(
    request: HttpRequest,
    provider: SeeClickFixProvider,
    state: Mapping[str, Any],
    flow: str,
) -> str | None:
    """The ``E_*`` code that forbids going on with ``state``, or ``None``."""
    bound = state.get(STATE_KEY)
    if not isinstance(bound, Mapping):
        return E_STATE
    issued = bound.get("iat")
    if not isinstance(issued, int | float) or time.time() - issued > app_settings.STATE_MAX_AGE:
        return E_STATE
    if issued > time.time() + 5:
        return E_STATE
    if bound.get("user") != bound_user(request):
        return E_STATE
    if (bound.get("env"), bound.get("host"), bound.get("client")) != (
        app_settings.ENVIRONMENT,
        app_settings.base_url,
        provider.app.client_id,
    ):
        return E_ENVIRONMENT
    if bound.get("flow") != flow or flow_for(provider.app) != flow:
        return E_STATE
    if bound.get("uri") != redirect_uri(flow):
        return E_ENVIRONMENT
    return None


def seal_token(token: TokenResponse) -> SocialToken:
    """allauth's view of the tokens: an encrypted bundle, never the tokens themselves."""
    now = timezone.now()
    social_token = SocialToken(token=seal_tokens(token, received_at=now))
    social_token.expires_at = token.expires_at(now)
    return social_token


def fetch_profile(access_token: str) -> dict[str, Any]:
    """``GET /profile`` with the new token; anything but a real user id is an error."""
    with SeeClickFixClient(app_settings.base_url, BearerAuth(access_token)) as client:
        profile = client.get_profile()
    raw = dict(profile.raw)
    if profile.id is None or isinstance(raw.get("id"), bool) or not 0 < profile.id < MAX_ID:
        raise LinkRefused(E_PROFILE, status=400)
    raw["id"] = int(profile.id)
    return raw


def check_audience(
    provider: SeeClickFixProvider, access_token: str
) -> tuple[str | SiteFault | None, dict[str, Any]]:
    """Whether a token that did not come from our own token request is this app's: the refusal
    (an error code, a :class:`SiteFault` when no such sign-in can ever pass, or ``None`` when
    the token may be used) and SeeClickFix's token info (``{}`` when unknown).

    A token from the implicit flow (the relay's fragment, or a mobile app's provider-token
    sign-in) may have been issued to another app (token substitution): it must be ours
    according to SeeClickFix's token info. With IMPLICIT_AUDIENCE_CHECK ``"required"`` (the
    default) a token whose application cannot be learned is refused; with
    ``"when_available"`` only a token known to be another app's is. The site is at fault when
    its cache is down, or when the server has no token info naming the application while the
    check is required."""
    required = app_settings.IMPLICIT_AUDIENCE_CHECK == "required"
    try:
        info = oauth_client(provider.app).token_info(access_token)
    except ReauthRequired:
        logger.info("SeeClickFix sign-in stopped: SeeClickFix does not accept the token")
        return E_TOKEN, {}
    except SeeClickFixError as err:
        fault = classify(err, provider.app)
        if fault is not None:
            return fault, {}
        if isinstance(err, APIError) and err.status == 404:
            if not required:
                return None, {}  # no token-info endpoint at this host, and the site accepts that
            return audience_fault("has no token info endpoint (404)"), {}
        logger.warning(
            "SeeClickFix sign-in stopped: token info failed (%s, status %s); the implicit flow "
            'needs it while SEECLICKFIX["IMPLICIT_AUDIENCE_CHECK"] is "required".',
            type(err).__name__,
            getattr(err, "status", None),
        )
        return E_TOKEN, {}
    application = info.get("application")
    uid = application.get("uid") if isinstance(application, dict) else None
    if uid is None:
        if not required:
            return None, info
        return audience_fault("answers token info without naming the application"), {}
    if str(uid) != provider.app.client_id:
        logger.warning("SeeClickFix sign-in refused: the token was issued to another app")
        return E_AUDIENCE, {}
    return None, info


def finish(
    request: HttpRequest,
    provider: SeeClickFixProvider,
    state: dict[str, Any],
    token: TokenResponse,
) -> HttpResponse:
    """After a token was obtained (either flow): profile, linking checks, allauth's pipeline."""
    try:
        profile = fetch_profile(token.access_token)
    except LinkRefused as refused:
        return fail(request, provider, refused.code, state=state, status=refused.status)
    except SeeClickFixError as err:
        fault = classify(err, provider.app)
        if fault is not None:
            return stop_for_site(
                request, provider, fault, during="GET /profile", state=state, exception=err
            )
        logger.info("SeeClickFix sign-in stopped: /profile failed (%s)", described(err))
        return fail(request, provider, E_PROFILE, state=state, exception=err)
    process = state.get("process")
    if process == AuthProcess.CONNECT:
        try:
            check_can_link(request.user, app_settings.ENVIRONMENT, int(profile["id"]))
        except LinkRefused as refused:
            return fail(request, provider, refused.code, state=state, status=refused.status)
    try:
        sealed = seal_token(token)
    except (OverflowError, ValueError):  # an absurd expires_in
        return fail(request, provider, E_TOKEN, state=state)
    sociallogin = provider.sociallogin_from_response(request, profile)
    sociallogin.token = sealed
    if provider.app.pk:
        sociallogin.token.app = provider.app
    # The verifier has done its job; keep it out of anything allauth may serialize later.
    state.pop("pkce_code_verifier", None)
    sociallogin.state = state
    try:
        # One transaction: if linking refuses half-way (a parallel link, an email match), the
        # social account allauth just saved is rolled back with it and nothing changes.
        with transaction.atomic():
            setattr(request, IN_FLOW_ATTRIBUTE, True)
            completed: HttpResponse = complete_social_login(request, sociallogin)
        if process == AuthProcess.CONNECT:
            replace_connected_message(request, sociallogin)
        return completed
    except ImmediateHttpResponse as response:
        answer: HttpResponse = response.response
        return answer
    except LinkRefused as refused:
        return fail(request, provider, refused.code, state=state, status=refused.status)


def exchange_code(
    request: HttpRequest, provider: SeeClickFixProvider, state: dict[str, Any], code: str
) -> TokenResponse | HttpResponse:
    sealed = state.get("pkce_code_verifier")
    try:
        verifier = decrypt(sealed, what="The PKCE verifier") if sealed else None
    except TokenDecryptionError:
        return fail(request, provider, E_STATE, state=state)
    try:
        return oauth_client(provider.app).exchange_code(
            code, state[STATE_KEY]["uri"], code_verifier=verifier
        )
    except SeeClickFixError as err:
        # A misconfigured app or a broken cache fails every sign-in alike: tell the operators,
        # and do not send the user round again. Anything else may pass on the next try.
        fault = classify(err, provider.app)
        if fault is not None:
            return stop_for_site(
                request, provider, fault, during="the code exchange", state=state, exception=err
            )
        logger.info("SeeClickFix sign-in stopped: token request failed (%s)", described(err))
        return fail(request, provider, E_TOKEN, state=state, exception=err)


def token_from_fragment(fields: Mapping[str, str]) -> TokenResponse | None:
    """The implicit flow's fragment as a TokenResponse, or None if it holds no usable token."""
    access = (fields.get("access_token") or "").strip()
    if len(access) > 4096 or not sendable_token(access):
        return None
    expires_in: int | None = None
    raw_expires = (fields.get("expires_in") or "").strip()
    if raw_expires:
        try:
            expires_in = int(raw_expires)
        except ValueError:
            return None
        if not 0 < expires_in <= MAX_EXPIRES_IN:
            return None
    token_type = (fields.get("token_type") or "Bearer").strip()[:40] or "Bearer"
    if token_type.lower() != "bearer":
        return None
    return TokenResponse(
        access_token=access,
        token_type="Bearer",  # noqa: S106
        expires_in=expires_in,
        refresh_token=None,  # the implicit flow never issues one (RFC 6749 4.2.2)
        # Scope tokens are printable ASCII (RFC 6749 3.3); anything else (a NUL, which
        # PostgreSQL refuses in text) is dropped rather than stored.
        scope="".join(ch for ch in fields.get("scope") or "" if " " <= ch <= "~").strip()[:255]
        or None,
        created_at=timezone.now(),
        raw={},
    )


__all__ = [
    "CALLBACK_URL_NAME",
    "RELAY_URL_NAME",
    "check_audience",
    "flow_for",
    "redirect_uri",
    "secure_flow",
    "site_root",
    "stop_for_site",
]
