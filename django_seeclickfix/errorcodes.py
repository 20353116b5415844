"""Why a connect or sign-in stopped: the codes and the messages users read.

A code is what a headless front end receives as ``?error=<code>`` and what
:class:`~django_seeclickfix.exceptions.LinkRefused` carries; :data:`MESSAGES` is what a browser
user is shown for it. One module, so a new refusal gets its code and its words together.
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.providers.base.constants import AuthError
from django.utils.translation import gettext_lazy as _

# Refused by the linking rules (linking.py).
E_LINKED_ELSEWHERE = "seeclickfix_linked_elsewhere"
E_OTHER_ACCOUNT = "seeclickfix_other_account_linked"
E_BY_EMAIL = "seeclickfix_email_match"
E_ENVIRONMENT = "seeclickfix_environment"
# Stopped by the OAuth flow (allauth_provider/).
E_STATE = "seeclickfix_state"
E_TOKEN = "seeclickfix_token"  # noqa: S105 (an error code)
E_AUDIENCE = "seeclickfix_audience"
E_PROFILE = "seeclickfix_profile"
E_LOGIN_REQUIRED = "seeclickfix_login_required"
E_METHOD = "seeclickfix_post_required"
E_PROCESS = "seeclickfix_process"
E_CANCELLED = AuthError.CANCELLED
# The site's own fault, logged at ERROR for its operators (site_faults.py): trying again does not
# help, so these messages promise no retry.
E_CONFIGURATION = "seeclickfix_configuration"
E_SITE = "seeclickfix_site_unavailable"

MESSAGES: dict[str, Any] = {
    E_STATE: _(
        "This SeeClickFix sign-in link is invalid or has expired. Please start again from this "
        "site."
    ),
    E_ENVIRONMENT: _(
        "This sign-in was started against another SeeClickFix environment. Please start again."
    ),
    E_TOKEN: _("SeeClickFix did not complete the sign-in. Please try again in a moment."),
    E_AUDIENCE: _(
        "This SeeClickFix token was issued to another app, so nothing was connected. Sign in "
        "with SeeClickFix again from this site or its own app."
    ),
    E_PROFILE: _(
        "SeeClickFix did not confirm who you are, so nothing was connected. Please try again."
    ),
    E_LINKED_ELSEWHERE: _(
        "This SeeClickFix account is already connected to another user of this site. Nothing "
        "was changed."
    ),
    E_OTHER_ACCOUNT: _(
        "You have already connected a different SeeClickFix account. Disconnect it first, then "
        "connect this one. Nothing was changed."
    ),
    E_BY_EMAIL: _(
        "A SeeClickFix account is never matched to a user of this site by email address. Sign "
        "in first, then connect SeeClickFix."
    ),
    E_LOGIN_REQUIRED: _("Please sign in before connecting SeeClickFix."),
    E_METHOD: _("Connecting SeeClickFix starts from a button on this site."),
    E_PROCESS: _("This kind of SeeClickFix sign-in is not supported."),
    E_CANCELLED: _("You cancelled the SeeClickFix sign-in. Nothing was connected."),
    E_CONFIGURATION: _(
        "SeeClickFix sign-in is not available on this site right now because of a problem with "
        "the site's setup. Nothing was connected; the problem has been logged for the site's "
        "administrators."
    ),
    E_SITE: _(
        "This site could not complete the SeeClickFix sign-in because of a problem on its own "
        "side, not at SeeClickFix. Nothing was connected; the problem has been logged for the "
        "site's administrators."
    ),
}


def message_for(code: str) -> Any:
    """The user-facing text for ``code`` (an unknown code reads as a failed sign-in)."""
    return MESSAGES.get(code, MESSAGES[E_TOKEN])


__all__ = [
    "E_AUDIENCE",
    "E_BY_EMAIL",
    "E_CANCELLED",
    "E_CONFIGURATION",
    "E_ENVIRONMENT",
    "E_LINKED_ELSEWHERE",
    "E_LOGIN_REQUIRED",
    "E_METHOD",
    "E_OTHER_ACCOUNT",
    "E_PROCESS",
    "E_PROFILE",
    "E_SITE",
    "E_STATE",
    "E_TOKEN",
    "MESSAGES",
    "message_for",
]
