"""Print what SeeClickFix asks for when registering an OAuth app, with the exact callback URIs."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.adapter import get_adapter
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...allauth_provider.flow import CODE, IMPLICIT, flow_for, redirect_uri, site_root
from ...conf import ENVIRONMENT_HOSTS, app_settings
from ...provider_id import PROVIDER_ID

SUPPORT = "SeeClickFix developer support (see https://dev.seeclickfix.com)"


class Command(BaseCommand):
    help = (
        "Print what SeeClickFix needs to register this site as an OAuth app: application "
        "name, organisation, contacts and the exact callback URI for each configured "
        "environment and flow."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default="", help="Application name shown to users.")
        parser.add_argument("--organization", default="", help="Your organisation.")
        parser.add_argument(
            "--all-flows",
            action="store_true",
            help="Print the callback URI of both flows, not just the configured one.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            root = site_root()
            host = app_settings.base_url
            environment = app_settings.ENVIRONMENT
        except ImproperlyConfigured as err:
            raise CommandError(str(err)) from err
        apps = self._apps()
        flows = [CODE, IMPLICIT] if options["all_flows"] else []
        if not flows:
            flows = sorted({flow_for(app) for app in apps} or {CODE})
        w = self.stdout.write
        w("Register an OAuth application with SeeClickFix")
        w("=" * 46)
        w(f"Send the details below to {SUPPORT}.")
        w("Applications are registered per SeeClickFix host: register once for each host.")
        w("")
        w(f"Application name (shown to users when they authorise): {options['name'] or '<name>'}")
        w(f"Organization: {options['organization'] or '<your organisation>'}")
        w("Technical contact: <name, email>")
        w("Administrative contact: <name, email>")
        w("")
        w(f"Environment: {environment}")
        w(f"SeeClickFix host: {host}")
        known = ENVIRONMENT_HOSTS.get(environment)
        if known and known != host:
            w(f"  (BASE_URL overrides the usual host for {environment}, {known})")
        w(f"Site root (SEECLICKFIX['SITE_URL'] or the sites framework): {root}")
        for flow in flows:
            label = (
                "authorization code (+PKCE), needs a client secret"
                if flow == CODE
                else "implicit, for apps registered without a secret"
            )
            w("")
            w(f"Flow: {flow} ({label})")
            w(f"  Callback URI (exactly): {redirect_uri(flow)}")
        w("")
        if apps:
            for app in apps:
                secret = "set" if app.secret else "not set"
                w(
                    f"Configured app: client_id {app.client_id!r}, secret {secret} -> "
                    f"{flow_for(app)} flow"
                )
        else:
            w(
                "No SeeClickFix app configured yet: after registration put the client id (and "
                'secret) in SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"].'
            )
        if getattr(settings, "SOCIALACCOUNT_LOGIN_ON_GET", False):
            w("")
            w("Warning: SOCIALACCOUNT_LOGIN_ON_GET is on; connecting must start by POST only.")

    def _apps(self) -> list[Any]:
        return list(get_adapter().list_apps(None, provider=PROVIDER_ID))
