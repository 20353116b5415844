"""The current request's SeeClickFix account, read once per request.

A page and the template tags on it (``{% seeclickfix_connect_button %}``, ...) share one query:
the first caller reads :meth:`SeeClickFixAccountQuerySet.for_user
<django_seeclickfix.models.SeeClickFixAccountQuerySet.for_user>`, the others get its answer.
"""

from __future__ import annotations

from django.http import HttpRequest

from .models import SeeClickFixAccount

# Where account_for_request keeps (user pk, account) on the request.
_CACHE_ATTRIBUTE = "_seeclickfix_account"


def account_for_request(request: HttpRequest, user: object = None) -> SeeClickFixAccount | None:
    """``user``'s account (default: ``request.user``) in the configured environment, or
    ``None``; read once per request and user."""
    if user is None:
        user = request.user
    pk = getattr(user, "pk", None)
    cached = getattr(request, _CACHE_ATTRIBUTE, None)
    if cached is not None and cached[0] == pk:
        return cached[1]  # type: ignore[no-any-return]
    account = SeeClickFixAccount.objects.for_user(user)
    setattr(request, _CACHE_ATTRIBUTE, (pk, account))
    return account


__all__ = ["account_for_request"]
