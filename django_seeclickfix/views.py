"""The app's own pages: link status and disconnect (the OAuth views live in allauth_provider)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .allauth_provider.flow import safe_next
from .conf import app_settings
from .linking import unlink_account
from .models import SeeClickFixAccount

# Where account_for_request keeps (user pk, account) on the request.
_CACHE_KEY = "_seeclickfix_account"


def account_for(user: object) -> SeeClickFixAccount | None:
    """The user's SeeClickFix account in the configured environment, if any."""
    pk = getattr(user, "pk", None)
    if pk is None or not getattr(user, "is_authenticated", False):
        return None
    return (
        SeeClickFixAccount.objects.for_environment()
        .filter(user_id=pk)
        .select_related("user")
        .first()
    )


def account_for_request(request: HttpRequest, user: object = None) -> SeeClickFixAccount | None:
    """``account_for(user)`` (default: ``request.user``), read once per request: a page and the
    template tags on it share the query."""
    if user is None:
        user = request.user
    pk = getattr(user, "pk", None)
    cached = getattr(request, _CACHE_KEY, None)
    if cached is not None and cached[0] == pk:
        return cached[1]  # type: ignore[no-any-return]
    account = account_for(user)
    setattr(request, _CACHE_KEY, (pk, account))
    return account


@never_cache
@require_GET
@login_required
def status(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    return render(
        request,
        "seeclickfix/status.html",
        {
            "account": account,
            "environment": app_settings.ENVIRONMENT,
            "linked": account is not None and account.status != SeeClickFixAccount.Status.REVOKED,
        },
    )


@never_cache
@require_POST
@login_required
def disconnect(request: HttpRequest) -> HttpResponse:
    account = account_for(request.user)
    target = safe_next(request, request.POST.get("next"), headless=False) or reverse(
        "seeclickfix:status"
    )
    if account is None or account.status == SeeClickFixAccount.Status.REVOKED:
        messages.info(request, _("SeeClickFix is not connected."))
        return HttpResponseRedirect(target)
    result = unlink_account(account, request=request)
    messages.success(
        request,
        _(
            "SeeClickFix is disconnected. This site deleted its access and asked SeeClickFix to "
            "revoke it."
        ),
    )
    if account.social_account_id is not None and not result.social_account_removed:
        messages.info(
            request,
            _(
                "You can still sign in here with SeeClickFix, because it is your only way to "
                "sign in. Set a password first if you want to remove that too."
            ),
        )
    response = HttpResponseRedirect(target)
    response["Cache-Control"] = "no-store"
    return response
