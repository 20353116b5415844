"""The service account's client, from ``SEECLICKFIX["SERVICE_ACCOUNT"]``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..conf import app_settings
from .auth import BasicAuth, BearerAuth, ClientAuth
from .client import SeeClickFixClient


def service_auth() -> ClientAuth:
    """A personal access token when configured (preferred), else legacy HTTP Basic."""
    account = app_settings.SERVICE_ACCOUNT
    if not account:
        raise ImproperlyConfigured(
            'SEECLICKFIX["SERVICE_ACCOUNT"] is not set: add {"TOKEN": "<personal access token>"} '
            '(or {"EMAIL": ..., "PASSWORD": ...} for legacy HTTP Basic).'
        )
    if account.get("TOKEN"):
        return BearerAuth(str(account["TOKEN"]))
    return BasicAuth(str(account["EMAIL"]), str(account["PASSWORD"]))


def service_client(**options: Any) -> SeeClickFixClient:
    """A client signed in as the service account, for the configured environment.

    ``ORGANIZATION_ID``, when set, is used by the ``organization_issue*`` methods. Keyword
    arguments go to :class:`SeeClickFixClient` (e.g. ``budget=``).
    """
    auth = service_auth()
    account = app_settings.SERVICE_ACCOUNT or {}
    options.setdefault("organization_id", account.get("ORGANIZATION_ID"))
    return SeeClickFixClient(app_settings.base_url, auth, **options)
