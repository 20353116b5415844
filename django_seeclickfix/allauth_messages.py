"""allauth's generic notices ("The third-party account has been connected.") swapped for ones
that name SeeClickFix and say what happens next, where this library's users see them.

allauth renders its notices from templates a host may already override, so the swap matches the
rendered text rather than replacing allauth's templates for every provider.
"""

from __future__ import annotations

import html
from typing import Any

from allauth.socialaccount.signals import social_account_removed
from django.conf import settings
from django.contrib import messages
from django.dispatch import receiver
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from .provider_id import PROVIDER_ID

CONNECTED_TEMPLATES = (
    "socialaccount/messages/account_connected.txt",
    "socialaccount/messages/account_connected_updated.txt",
)
REMOVED_TEMPLATE = "socialaccount/messages/account_disconnected.txt"


def _rendered(template_name: str, context: dict[str, Any], request: HttpRequest) -> str:
    return html.unescape(render_to_string(template_name, context, request).strip())


def replace_message(request: HttpRequest, generic: set[str], ours: str) -> bool:
    """Put ``ours`` where a queued message reads one of ``generic``; ``False`` if none does
    (a headless request, or messages not installed: allauth added nothing)."""
    if "django.contrib.messages" not in settings.INSTALLED_APPS or not hasattr(
        request, "_messages"
    ):
        return False
    # Reading the storage marks everything shown; whatever is kept is queued again, in order.
    queued = list(messages.get_messages(request))
    replaced = False
    for message in queued:
        if not replaced and str(message.message) in generic:
            replaced = True
            messages.add_message(request, message.level, ours, extra_tags=message.extra_tags)
        else:
            messages.add_message(
                request, message.level, message.message, extra_tags=message.extra_tags
            )
    return replaced


def replace_connected_message(request: HttpRequest, sociallogin: Any) -> None:
    """After allauth finished a connect: "SeeClickFix is connected…" instead of its notice."""
    context = {"sociallogin": sociallogin, "action": None}
    generic = {_rendered(name, context, request) for name in CONNECTED_TEMPLATES}
    replace_message(
        request,
        generic,
        _(
            "SeeClickFix is connected. This site will keep your SeeClickFix reports up to "
            "date; you can disconnect at any time."
        ),
    )


@receiver(social_account_removed, dispatch_uid="seeclickfix_removed_message")
def _on_social_account_removed(
    sender: Any, request: HttpRequest | None, socialaccount: Any, **kwargs: Any
) -> None:
    # allauth's own "remove" button on its connections page: its notice was added just before.
    if request is None or getattr(socialaccount, "provider", None) != PROVIDER_ID:
        return
    replace_message(
        request,
        {_rendered(REMOVED_TEMPLATE, {}, request)},
        _(
            "SeeClickFix is disconnected. This site deleted its access and asked SeeClickFix to "
            "revoke it."
        ),
    )
