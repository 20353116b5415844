"""Check the service account: call ``/profile`` with it and say who it is signed in as.

Exit status 0 when SeeClickFix accepted the credentials, 1 (``CommandError``) otherwise. A
``TOKEN_EXPIRES`` date in ``SEECLICKFIX["SERVICE_ACCOUNT"]`` within ``--warn-days`` (30) prints a
warning: personal access tokens live at most a year and nobody is told when one runs out.

``--live-contract`` runs the read-only contracts (docs/contracts.md) against the configured
SeeClickFix instead, with the site's own credentials, and prints the pasteable report; exit
status 1 when a contract other than a guess did not hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from ...client import parsing
from ...client.auth import BasicAuth
from ...client.service import service_client
from ...conf import app_settings
from ...contract_check import check_site
from ...exceptions import RateLimited, ReauthRequired, SeeClickFixError


def token_expiry(value: Any) -> datetime | None:
    """``TOKEN_EXPIRES`` as an aware datetime: a date, a datetime or an ISO 8601 string."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.combine(date.fromisoformat(value.strip()), time.min, tzinfo=UTC)
        except ValueError:
            parsed = parsing.timestamp(value)
            if parsed is not None:
                return parsed
    raise CommandError(
        _(
            'SEECLICKFIX["SERVICE_ACCOUNT"]["TOKEN_EXPIRES"] must be a date such as '
            '"2026-05-01" (when the personal access token expires), got %(value)r.'
        )
        % {"value": value}
    )


class Command(BaseCommand):
    help = (
        "Call SeeClickFix's /profile with SEECLICKFIX['SERVICE_ACCOUNT'] and print who it is "
        "signed in as, the environment, and a warning when the token expires soon."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--warn-days",
            type=int,
            default=30,
            help="Warn when TOKEN_EXPIRES is this many days away or less (default 30).",
        )
        parser.add_argument(
            "--live-contract",
            action="store_true",
            help="Run the read-only contracts against the configured SeeClickFix with the "
            "site's credentials and print the report (docs/contracts.md).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["live_contract"]:
            self._live_contract()
            return
        try:
            environment = app_settings.ENVIRONMENT
            base_url = app_settings.base_url
            account = app_settings.SERVICE_ACCOUNT
            client = service_client()
        except ImproperlyConfigured as err:
            raise CommandError(str(err)) from err
        assert account is not None
        expires = token_expiry(account.get("TOKEN_EXPIRES"))
        try:
            with client:
                profile = client.get_profile()
        except ReauthRequired as err:
            raise CommandError(
                _(
                    "SeeClickFix (%(env)s, %(url)s) refused the service account's credentials. "
                    'Check SEECLICKFIX["SERVICE_ACCOUNT"]: the token may have expired or been '
                    "revoked, or the password changed."
                )
                % {"env": environment, "url": base_url}
            ) from err
        except RateLimited as err:
            raise CommandError(
                _("SeeClickFix's rate limit is used up; try again in %(seconds)d seconds.")
                % {"seconds": round(err.retry_after)}
            ) from err
        except SeeClickFixError as err:
            raise CommandError(
                _("Could not reach SeeClickFix at %(url)s: %(error)s")
                % {"url": base_url, "error": err}
            ) from err

        if isinstance(client.auth, BasicAuth):
            method = _("HTTP Basic as %(email)s (legacy; prefer a personal access token)") % {
                "email": client.auth.email
            }
        else:
            method = _("personal access token (Bearer)")
        lines = [
            _("Signed in to SeeClickFix as %(name)s (user id %(id)s).")
            % {"name": profile.name or _("(no name)"), "id": profile.id},
            _("Environment: %(env)s (%(url)s)") % {"env": environment, "url": base_url},
            _("Authentication: %(method)s") % {"method": method},
            _("Can acknowledge issues: %(answer)s")
            % {"answer": _("yes") if profile.can_acknowledge else _("no")},
        ]
        if client.organization_id is not None:
            lines.append(_("Organisation id: %(id)s") % {"id": client.organization_id})
        for line in lines:
            self.stdout.write(line)
        self._expiry(
            expires, options["warn_days"], uses_token=not isinstance(client.auth, BasicAuth)
        )

    def _live_contract(self) -> None:
        try:
            results, _not_run, report = check_site()
        except ImproperlyConfigured as err:
            raise CommandError(str(err)) from err
        self.stdout.write(report)
        broken = [r.contract.name for r in results if not r.held and not r.contract.guess]
        guesses = [r.contract.name for r in results if not r.held and r.contract.guess]
        if guesses:
            self.stderr.write(
                _(
                    "%(count)d guess(es) of the emulator did not hold (%(names)s): the library "
                    "handles either answer; please paste the report into an issue so the "
                    "emulator can follow SeeClickFix."
                )
                % {"count": len(guesses), "names": ", ".join(guesses)}
            )
        if broken:
            raise CommandError(
                _("%(count)d contract(s) did not hold: %(names)s. See the report above.")
                % {"count": len(broken), "names": ", ".join(broken)}
            )

    def _expiry(self, expires: datetime | None, warn_days: int, *, uses_token: bool) -> None:
        if expires is None:
            if not uses_token:
                return
            self.stdout.write(
                _(
                    'Token expiry unknown: set SEECLICKFIX["SERVICE_ACCOUNT"]["TOKEN_EXPIRES"] '
                    "to be warned before it runs out (personal access tokens last at most a "
                    "year)."
                )
            )
            return
        days = (expires - datetime.now(UTC)).total_seconds() / 86400
        when = expires.date().isoformat()
        if days < 0:
            self.stderr.write(
                self.style.WARNING(
                    _(
                        "Warning: TOKEN_EXPIRES (%(date)s) has passed, yet SeeClickFix still "
                        "accepts the token. Update TOKEN_EXPIRES to the token's real expiry."
                    )
                    % {"date": when}
                )
            )
        elif days <= warn_days:
            self.stderr.write(
                self.style.WARNING(
                    _(
                        "Warning: the service account's token expires on %(date)s (in %(days)d "
                        "days). Create a new personal access token on SeeClickFix and update "
                        'SEECLICKFIX["SERVICE_ACCOUNT"].'
                    )
                    % {"date": when, "days": int(days)}
                )
            )
        else:
            self.stdout.write(
                _("Token expires on %(date)s (in %(days)d days).")
                % {"date": when, "days": int(days)}
            )
