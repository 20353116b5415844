"""``{% load seeclickfix %}``: connect / reconnect / disconnect buttons and the link status.

The buttons follow the current user's link, so one template serves every visitor:

``{% seeclickfix_connect_button [next="/path/"] [label="..."] [connected="..."] %}``
    A POST form (with CSRF) that starts the connect flow for a signed-in user without a working
    link; it says "Reconnect SeeClickFix" when the link needs it. Nothing for anonymous users
    (they sign in first). Nothing while the link is active, unless ``connected`` is given: then
    that text, in ``<span class="seeclickfix-connected">``.
``{% seeclickfix_disconnect_button [next="/path/"] [label="..."] %}``
    A POST form to the disconnect view, only for a user with a link (active or needing
    reconnection); nothing otherwise.
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


def _user(context: template.Context) -> Any:
    request = context.get("request")
    return getattr(request, "user", None) or context.get("user")


def _account(context: template.Context) -> SeeClickFixAccount | None:
    user = _user(context)
    if user is None or not user.is_authenticated:
        return None
    request = context.get("request")
    if request is None:
        return SeeClickFixAccount.objects.for_user(user)
    return account_for_request(request, user)


def _state(account: SeeClickFixAccount | None) -> str:
    if account is None or account.status == SeeClickFixAccount.Status.REVOKED:
        return "unlinked"
    return str(account.status)


def _signed_in(context: template.Context) -> bool:
    user = _user(context)
    return bool(user is not None and user.is_authenticated)


@register.simple_tag(takes_context=True)
def seeclickfix_account(context: template.Context) -> SeeClickFixAccount | None:
    return _account(context)


@register.inclusion_tag("seeclickfix/tags/connect_button.html", takes_context=True)
def seeclickfix_connect_button(
    context: template.Context,
    next: str | None = None,
    label: str | None = None,
    connected: str | None = None,
) -> dict[str, Any]:
    state = _state(_account(context))
    request = context.get("request")
    return {
        "show": _signed_in(context) and state != "active",
        "connected": connected if state == "active" else None,
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "action": reverse("seeclickfix_login"),
        "next": next or (request.get_full_path() if request is not None else None),
        "label": label,
        "reconnect": state == "reauth_required",
    }


@register.inclusion_tag("seeclickfix/tags/disconnect_button.html", takes_context=True)
def seeclickfix_disconnect_button(
    context: template.Context, next: str | None = None, label: str | None = None
) -> dict[str, Any]:
    return {
        "show": _state(_account(context)) != "unlinked",
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
        "next": next,
        "label": label,
    }


@register.inclusion_tag("seeclickfix/tags/link_status.html", takes_context=True)
def seeclickfix_link_status(context: template.Context) -> dict[str, Any]:
    account = _account(context)
    return {"account": account, "state": _state(account)}
