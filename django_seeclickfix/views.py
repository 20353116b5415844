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
from .current import account_for_request
from .models import SeeClickFixAccount, SeeClickFixRevocation
from .unlinking import unlink_account


@never_cache
@require_GET
@login_required
def status(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    latest_revocation = account.revocations.order_by("-pk").first() if account else None
    return render(
        request,
        "seeclickfix/status.html",
        {
            "account": account,
            "environment": app_settings.ENVIRONMENT,
            "linked": account is not None and account.status != SeeClickFixAccount.Status.REVOKED,
            # SeeClickFix refused to revoke the last tokens this site gave up: the user should
            # know that SeeClickFix may still honour them, and how to end that.
            "revocation_failed": latest_revocation is not None
            and latest_revocation.status == SeeClickFixRevocation.Status.FAILED,
        },
    )


@never_cache
@require_POST
@login_required
def disconnect(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
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
    return HttpResponseRedirect(target)
