"""``{% load seeclickfix %}``: connect / reconnect / disconnect buttons and the link status.

``{% seeclickfix_connect_button [next="/path/"] [label="..."] %}``
    A POST form (with CSRF) that starts the connect flow; says "Reconnect" when the link needs it.
``{% seeclickfix_disconnect_button [next="/path/"] [label="..."] %}``
    A POST form to the disconnect view.
``{% seeclickfix_link_status %}``
    One sentence: connected as whom, needs reconnecting, or not connected.
``{% seeclickfix_account as account %}``
    The current user's account in the configured environment (or ``None``).
``{{ value|seeclickfix_url }}``
    ``value`` if it is an absolute http(s) URL, else ``""``: wrap every URL that came from
    SeeClickFix (an issue's ``html_url``, an avatar) before it goes into ``href`` or ``src``.

The tags need ``request`` in the template context (``django.template.context_processors.request``).
Override ``seeclickfix/tags/*.html`` to restyle them.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from ..client import parsing
from ..current import account_for_request
from ..models import SeeClickFixAccount

register = template.Library()


@register.filter
def seeclickfix_url(value: Any) -> str:
    """Only http(s) URLs become links; anything else (``javascript:``, ``data:``) is dropped."""
    return parsing.web_url(value) or ""


def _account(context: template.Context) -> SeeClickFixAccount | None:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if user is None:
        return None
    if request is None:
        return SeeClickFixAccount.objects.for_user(user)
    return account_for_request(request, user)


def _state(account: SeeClickFixAccount | None) -> str:
    if account is None or account.status == SeeClickFixAccount.Status.REVOKED:
        return "unlinked"
    return str(account.status)


@register.simple_tag(takes_context=True)
def seeclickfix_account(context: template.Context) -> SeeClickFixAccount | None:
    return _account(context)


@register.inclusion_tag("seeclickfix/tags/connect_button.html", takes_context=True)
def seeclickfix_connect_button(
    context: template.Context, next: str | None = None, label: str | None = None
) -> dict[str, Any]:
    account = _account(context)
    request = context.get("request")
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "action": reverse("seeclickfix_login"),
        "next": next or (request.get_full_path() if request is not None else None),
        "label": label,
        "reconnect": _state(account) == "reauth_required",
    }


@register.inclusion_tag("seeclickfix/tags/disconnect_button.html", takes_context=True)
def seeclickfix_disconnect_button(
    context: template.Context, next: str | None = None, label: str | None = None
) -> dict[str, Any]:
    return {
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
        "next": next,
        "label": label,
    }


@register.inclusion_tag("seeclickfix/tags/link_status.html", takes_context=True)
def seeclickfix_link_status(context: template.Context) -> dict[str, Any]:
    account = _account(context)
    return {"account": account, "state": _state(account)}
