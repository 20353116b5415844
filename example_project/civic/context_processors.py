"""What every page needs: the site's name, which SeeClickFix it talks to, the user's link."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_seeclickfix.conf import app_settings

from .links import current_account

SITE_NAME = _("Elm City Fixes")


def site(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    account = current_account(user) if user is not None and user.is_authenticated else None
    return {
        "site_name": SITE_NAME,
        "scf_host": app_settings.base_url,
        "scf_environment": app_settings.ENVIRONMENT,
        "scf_account": account,
    }
