"""Which sign-in failures are the site's own, and what its operators should check.

SeeClickFix being down or a code that expired is worth another try. An OAuth app SeeClickFix does
not accept, or this site's own cache being down, is not: every user would fail the same way until
someone changes a setting. Those become a :class:`SiteFault`: an ERROR log naming the cause (the
OAuth error code, or ``cache``) and the setting to check, and a user message that promises no
retry and does not blame SeeClickFix for the site's own faults (:mod:`errorcodes`).

Nothing here ever holds a secret: advice names settings, never their values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .conf import app_settings
from .errorcodes import E_CONFIGURATION, E_SITE
from .exceptions import OAuthError, SiteCacheUnavailable

if TYPE_CHECKING:
    from allauth.socialaccount.models import SocialApp

logger = logging.getLogger(__name__)

CACHE = "cache"
FLOW_SETTING = 'SEECLICKFIX["FLOW"]'
HOST_SETTINGS = 'SEECLICKFIX["ENVIRONMENT"] / SEECLICKFIX["BASE_URL"]'
AUDIENCE_SETTING = 'SEECLICKFIX["IMPLICIT_AUDIENCE_CHECK"]'


@dataclass(frozen=True)
class SiteFault:
    """A failure only the site's operators can fix.

    ``code`` is what the user is shown (``E_CONFIGURATION`` or ``E_SITE``), ``cause`` the OAuth
    error code or ``"cache"``, ``setting`` the setting to check, ``advice`` the operator's
    sentence.
    """

    code: str
    cause: str
    setting: str
    advice: str


def app_setting(app: SocialApp | None) -> str:
    """Where the SeeClickFix app's client id and secret are configured."""
    if app is not None and app.pk:
        return (
            f'the client id and secret of the SeeClickFix SocialApp "{app.name}" (id {app.pk}, '
            "in the admin)"
        )
    return 'the client_id and secret in SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]'


# The token endpoint's answers to a code exchange that no retry changes, per RFC 6749 5.2 code:
# (the setting to check, or None for the app's credentials; the advice). ``invalid_grant`` is
# not here: an expired, reused or foreign code (Doorkeeper says the same words for each, a
# redirect mismatch included) is undone by starting again, which fetches a fresh code.
PERMANENT_TOKEN_ERRORS: dict[str, tuple[str | None, str]] = {
    "invalid_client": (
        None,
        "SeeClickFix at {host} did not accept this site's OAuth app (invalid_client). Check "
        "{setting}, and that the app was registered at this host: SeeClickFix registers apps per "
        f"host ({HOST_SETTINGS}).",
    ),
    "unauthorized_client": (
        FLOW_SETTING,
        "SeeClickFix at {host} does not let this site's OAuth app use the authorization-code "
        "flow (unauthorized_client). Ask SeeClickFix which flow the app is registered for and "
        'set {setting} to match (an app registered without a secret uses "implicit").',
    ),
    "unsupported_grant_type": (
        FLOW_SETTING,
        "SeeClickFix at {host} does not offer the authorization-code flow "
        '(unsupported_grant_type). Set {setting} to "implicit" if the app is registered for it, '
        f"or check {HOST_SETTINGS}.",
    ),
    "invalid_scope": (
        'SOCIALACCOUNT_PROVIDERS["seeclickfix"]["SCOPE"]',
        "SeeClickFix at {host} refused the scope this site asks for (invalid_scope). Check "
        "{setting} against the scopes the app is registered for.",
    ),
    "invalid_request": (
        HOST_SETTINGS,
        "SeeClickFix at {host} called the token request malformed (invalid_request), which "
        "trying again does not change. Check that {setting} point at SeeClickFix's OAuth server; "
        "if they do, report it to django-seeclickfix.",
    ),
}


def token_error_fault(error: str, app: SocialApp | None) -> SiteFault | None:
    """The fault behind the token endpoint's ``error`` code, or ``None`` if a retry may help."""
    entry = PERMANENT_TOKEN_ERRORS.get(error)
    if entry is None:
        return None
    setting = entry[0] or app_setting(app)
    advice = entry[1].format(host=app_settings.base_url, setting=setting)
    return SiteFault(E_CONFIGURATION, error, setting, advice)


def cache_fault(error: SiteCacheUnavailable) -> SiteFault:
    alias = error.alias or app_settings.RATE_LIMIT_CACHE
    setting = f'CACHES["{alias}"] (SEECLICKFIX["RATE_LIMIT_CACHE"])'
    return SiteFault(
        E_SITE,
        CACHE,
        setting,
        f"This site's cache {alias!r} failed ({error}), so nothing was sent to SeeClickFix. "
        f"Check that the cache configured in {setting} is running and reachable.",
    )


def audience_fault(reason: str) -> SiteFault:
    """The implicit flow cannot prove any token is this app's, so every sign-in is refused."""
    return SiteFault(
        E_CONFIGURATION,
        reason,
        AUDIENCE_SETTING,
        f"SeeClickFix at {app_settings.base_url} {reason}, so no implicit-flow token can be "
        f'proven to be this app\'s and {AUDIENCE_SETTING} = "required" refuses every sign-in. '
        f"Prefer the code flow (a secret from SeeClickFix, {FLOW_SETTING}), or accept tokens "
        f'that cannot be proven with "when_available" (docs/linking.md, "Token info").',
    )


def classify(error: BaseException, app: SocialApp | None = None) -> SiteFault | None:
    """The site fault ``error`` stands for, or ``None`` when it is SeeClickFix's or the user's
    (worth another try)."""
    if isinstance(error, SiteCacheUnavailable):
        return cache_fault(error)
    if isinstance(error, OAuthError):
        return token_error_fault(error.error, app)
    return None


def report(fault: SiteFault, *, during: str) -> None:
    """The operator's ERROR line: the cause, the setting to check, what to do."""
    logger.error(
        "SeeClickFix sign-in is unavailable on this site (%s, during %s). %s",
        fault.cause,
        during,
        fault.advice,
        extra={"seeclickfix_cause": fault.cause, "seeclickfix_setting": fault.setting},
    )


__all__ = [
    "PERMANENT_TOKEN_ERRORS",
    "SiteFault",
    "app_setting",
    "audience_fault",
    "cache_fault",
    "classify",
    "report",
    "token_error_fault",
]
