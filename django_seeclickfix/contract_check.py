"""The configured SeeClickFix as a contract target, with the site's own credentials: the
service account (``SEECLICKFIX["SERVICE_ACCOUNT"]``) for signed-in requests and the site's
OAuth app (allauth's) for the token endpoint. Every request takes a unit of the site's shared
rate budget, so a check never spends what the workers need all at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from django.core.exceptions import ImproperlyConfigured, MultipleObjectsReturned, ObjectDoesNotExist

from .client.defaults import user_agent
from .client.ratelimit import RateBudget
from .client.service import service_auth
from .conf import app_settings
from .oauth_app import configured_app
from .testing.contracts import Contract, Result, Target, format_report, run_contracts, select


def site_target() -> Target:
    """A :class:`Target` for ``app_settings.base_url``; credentials the site lacks are left out
    (the contracts that need them are reported as not run)."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent()
    budget = RateBudget.from_settings()

    @contextmanager
    def take_budget() -> Iterator[None]:
        with budget.reserve():
            yield

    target = Target(
        name=app_settings.ENVIRONMENT,
        base_url=app_settings.base_url,
        session=session,
        gate=take_budget,
        timeout=app_settings.READ_TIMEOUT,
    )
    try:
        credential = service_auth().credential()
    except ImproperlyConfigured:
        credential = None
    if credential is not None:
        target.authorization = credential.header
        target.token = credential.token
        for secret in (credential.header, credential.token, *credential.secrets):
            target.remember_secret(secret)
    try:
        app = configured_app()
    except (ImproperlyConfigured, ObjectDoesNotExist, MultipleObjectsReturned):
        app = None
    if app is not None:
        target.client_id = app.client_id or None
        target.client_secret = app.secret or None
        target.remember_secret(app.secret or None)
    return target


def check_site() -> tuple[list[Result], list[tuple[Contract, str]], str]:
    """Runs the read-only contracts against the configured SeeClickFix: (results, not run,
    the report)."""
    target = site_target()
    results, not_run = run_contracts(select(tags={"read"}), target)
    report = format_report(results, server=f"{target.name} ({target.base_url})", not_run=not_run)
    return results, not_run, report
