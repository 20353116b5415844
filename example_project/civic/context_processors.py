"""What every page needs: the site's name and which SeeClickFix it talks to.

The user's link comes from the library's ``{% seeclickfix_account %}`` tag where a page shows it
(read once per request, shared with the connect button)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_seeclickfix.conf import app_settings

SITE_NAME = _("Elm City Fixes")


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "site_name": SITE_NAME,
        "scf_host": app_settings.base_url,
        "scf_environment": app_settings.ENVIRONMENT,
    }
