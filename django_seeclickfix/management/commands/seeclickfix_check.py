"""Check what the site signs in to SeeClickFix with: the OAuth app and the service account.

The OAuth app: its client id and secret are sent to SeeClickFix's token endpoint with a code
nobody issued. Doorkeeper checks the client before the code, so ``invalid_client`` means the
credentials are wrong and ``invalid_grant`` that they were accepted; nothing is issued. An app
that uses the implicit flow (no secret) has no credentials to check.

The service account: ``/profile`` is called with it and the command says who it is signed in as.
A ``TOKEN_EXPIRES`` date in ``SEECLICKFIX["SERVICE_ACCOUNT"]`` within ``--warn-days`` (30) prints
a warning: personal access tokens live at most a year and nobody is told when one runs out.

Both are checked by default, whichever is configured (``--oauth-app`` or ``--service-account``
checks one). Exit status 0 when every check passed, 1 (``CommandError``) otherwise. No secret is
ever printed.

``--live-contract`` runs the read-only contracts (docs/contracts.md) against the configured
SeeClickFix instead, with the site's own credentials, and prints the pasteable report; exit
status 1 when a contract other than a guess did not hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from allauth.socialaccount.models import SocialApp
from django.core.exceptions import ImproperlyConfigured, MultipleObjectsReturned
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from ...allauth_provider.flow import CODE, flow_for, redirect_uri
from ...client import parsing
from ...client.auth import BasicAuth
from ...client.service import service_client
from ...conf import app_settings
from ...contract_check import check_site
from ...exceptions import OAuthError, RateLimited, ReauthRequired, SeeClickFixError
from ...oauth_app import configured_app, oauth_client
from ...site_faults import app_setting, classify, token_error_fault


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
        "Check the SeeClickFix OAuth app's client id and secret at SeeClickFix's token endpoint "
        "and call /profile with SEECLICKFIX['SERVICE_ACCOUNT'], printing who it is signed in as "
        "and a warning when its token expires soon."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--warn-days",
            type=int,
            default=30,
            help="Warn when TOKEN_EXPIRES is this many days away or less (default 30).",
        )
        parser.add_argument(
            "--oauth-app",
            action="store_true",
            help="Check only the OAuth app's credentials.",
        )
        parser.add_argument(
            "--service-account",
            action="store_true",
            help="Check only SEECLICKFIX['SERVICE_ACCOUNT'].",
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
        both = not options["oauth_app"] and not options["service_account"]
        try:
            environment = app_settings.ENVIRONMENT
            base_url = app_settings.base_url
        except ImproperlyConfigured as err:
            raise CommandError(str(err)) from err
        self.where = {"env": environment, "url": base_url}
        # Each part reports its failure here and the other part still runs.
        self.failures: list[str] = []
        configured = False
        if both or options["oauth_app"]:
            configured |= self._oauth_app(required=not both)
        if both or options["service_account"]:
            configured |= self._service_account(options["warn_days"], required=not both)
        if self.failures:
            raise CommandError("\n".join(self.failures))
        if not configured:
            raise CommandError(
                _(
                    "Nothing to check: configure the SeeClickFix OAuth app "
                    '(SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"] or a SocialApp) or '
                    'SEECLICKFIX["SERVICE_ACCOUNT"].'
                )
            )

    # the OAuth app -----------------------------------------------------------------------------

    def _oauth_app(self, *, required: bool) -> bool:
        """Whether an app is configured (its credentials accepted, or an implicit-flow app with
        none to check); a refusal is added to ``failures``."""
        try:
            app = configured_app()
        except SocialApp.DoesNotExist:
            message = _(
                'OAuth app: none is configured (SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"] or '
                "a SeeClickFix SocialApp)."
            )
            if required:
                return self._failed(message)
            self.stdout.write(message + " " + _("Skipped."))
            return False
        except MultipleObjectsReturned:
            return self._failed(
                _(
                    "OAuth app: more than one SeeClickFix app is configured; keep one (or set "
                    'SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"] only).'
                )
            )
        names = {**self.where, "id": app.client_id, "where": app_setting(app)}
        if flow_for(app) != CODE:
            self.stdout.write(
                _(
                    "OAuth app: client id %(id)s uses the implicit flow (no secret), which never "
                    "calls the token endpoint: the credentials check does not apply."
                )
                % names
            )
            return True
        try:
            accepted = oauth_client(app).credentials_accepted(redirect_uri(CODE))
        except ImproperlyConfigured as err:
            return self._failed(_("OAuth app: %(error)s") % {"error": err})
        except OAuthError as err:
            fault = classify(err, app)
            return self._failed(
                _(
                    "OAuth app: SeeClickFix (%(env)s, %(url)s) refused the check of client id "
                    "%(id)s with %(code)s (status %(status)s). %(advice)s"
                )
                % {
                    **names,
                    "code": err.error,
                    "status": err.status,
                    "advice": fault.advice if fault else str(err),
                }
            )
        except SeeClickFixError as err:
            return self._failed(self._unreachable(err, app))
        if not accepted:
            fault = token_error_fault("invalid_client", app)
            assert fault is not None  # invalid_client is always the site's to fix
            return self._failed(
                _(
                    "OAuth app: SeeClickFix (%(env)s, %(url)s) says the client id %(id)s and "
                    "its secret are wrong (invalid_client). %(advice)s"
                )
                % {**names, "advice": fault.advice}
            )
        if app.secret:
            line = _(
                "OAuth app: SeeClickFix (%(env)s, %(url)s) accepted the client id %(id)s and its "
                "secret (%(where)s)."
            )
        else:
            line = _(
                "OAuth app: SeeClickFix (%(env)s, %(url)s) accepted the client id %(id)s as a "
                "public client (no secret is configured; the code flow relies on PKCE)."
            )
        self.stdout.write(line % names)
        return True

    def _failed(self, message: str) -> bool:
        self.failures.append(message)
        return True  # the part was configured (or asked for), and it failed

    def _unreachable(self, err: SeeClickFixError, app: SocialApp | None = None) -> str:
        if isinstance(err, RateLimited):
            return _("SeeClickFix's rate limit is used up; try again in %(seconds)d seconds.") % {
                "seconds": round(err.retry_after)
            }
        fault = classify(err, app)
        if fault is not None:
            return fault.advice
        return _("Could not reach SeeClickFix at %(url)s: %(error)s") % {
            "url": self.where["url"],
            "error": err,
        }

    # the service account -----------------------------------------------------------------------

    def _service_account(self, warn_days: int, *, required: bool) -> bool:
        """Whether a service account is configured; a refusal (or its absence while
        ``required``) is added to ``failures``."""
        account = app_settings.SERVICE_ACCOUNT
        if account is None and not required:
            self.stdout.write(
                _('Service account: none is configured (SEECLICKFIX["SERVICE_ACCOUNT"]). Skipped.')
            )
            return False
        try:
            client = service_client()
        except ImproperlyConfigured as err:
            return self._failed(str(err))
        assert account is not None
        expires = token_expiry(account.get("TOKEN_EXPIRES"))
        try:
            with client:
                profile = client.get_profile()
        except ReauthRequired:
            return self._failed(
                _(
                    "SeeClickFix (%(env)s, %(url)s) refused the service account's credentials. "
                    'Check SEECLICKFIX["SERVICE_ACCOUNT"]: the token may have expired or been '
                    "revoked, or the password changed."
                )
                % self.where
            )
        except SeeClickFixError as err:
            return self._failed(self._unreachable(err))

        if isinstance(client.auth, BasicAuth):
            method = _("HTTP Basic as %(email)s (legacy; prefer a personal access token)") % {
                "email": client.auth.email
            }
        else:
            method = _("personal access token (Bearer)")
        lines = [
            _("Signed in to SeeClickFix as %(name)s (user id %(id)s).")
            % {"name": profile.name or _("(no name)"), "id": profile.id},
            _("Environment: %(env)s (%(url)s)") % self.where,
            _("Authentication: %(method)s") % {"method": method},
            _("Can acknowledge issues: %(answer)s")
            % {"answer": _("yes") if profile.can_acknowledge else _("no")},
        ]
        if client.organization_id is not None:
            lines.append(_("Organisation id: %(id)s") % {"id": client.organization_id})
        for line in lines:
            self.stdout.write(line)
        self._expiry(expires, warn_days, uses_token=not isinstance(client.auth, BasicAuth))
        return True

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
