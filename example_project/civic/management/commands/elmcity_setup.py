"""Make a fresh Elm City Fixes database ready to use (run after ``migrate``; safe to repeat).

* points the sites framework at ``SITE_URL``;
* creates the cache table (the rate budget's home when there is no Redis);
* with ``--demo-user``: a site user to log in with;
* with ``--emulator``: registers this site as an OAuth app with the SeeClickFix emulator at
  ``SEECLICKFIX["BASE_URL"]``, with the exact redirect URIs of both flows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sites.models import Site
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from django_seeclickfix.testing.emulator.models import TOKEN_REGIMES

DEMO_EMAIL = "demo@elmcity.example"
DEMO_PASSWORD = "elm-city-demo"
APP_NAME = "Elm City Fixes"


class Command(BaseCommand):
    help = "Prepare the Elm City Fixes database: site domain, cache table, demo user, emulator app."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo-user",
            action="store_true",
            help=f"create the site user {DEMO_EMAIL} (password {DEMO_PASSWORD!r}), staff too",
        )
        parser.add_argument(
            "--emulator",
            action="store_true",
            help="register this site's OAuth app with the emulator at SEECLICKFIX['BASE_URL']",
        )
        parser.add_argument(
            "--token-regime",
            choices=TOKEN_REGIMES,
            default="refresh",
            help="with --emulator: the tokens the emulator issues to this site (default refresh)",
        )
        parser.add_argument(
            "--token-lifetime",
            type=int,
            default=7200,
            metavar="SECONDS",
            help="with --emulator: access token lifetime (default 7200)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._site()
        call_command("createcachetable", verbosity=0)
        if options["demo_user"]:
            self._demo_user()
        if options["emulator"]:
            self._register(options["token_regime"], options["token_lifetime"])

    def _site(self) -> None:
        domain = urlsplit(settings.SITE_URL).netloc
        Site.objects.update_or_create(
            pk=settings.SITE_ID, defaults={"domain": domain, "name": APP_NAME}
        )

    @transaction.atomic
    def _demo_user(self) -> None:
        from allauth.account.models import EmailAddress

        user_model = get_user_model()
        user = user_model.objects.filter(email__iexact=DEMO_EMAIL).first()
        if user is None:
            user = user_model.objects.create_user(
                username="demo", email=DEMO_EMAIL, password=DEMO_PASSWORD
            )
            user.first_name, user.last_name = "Dana", "Demo"
        user.is_staff = user.is_superuser = True  # the demo's admin pages use the same login
        user.save()
        EmailAddress.objects.update_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )

    def _register(self, token_regime: str, token_lifetime: int) -> None:
        from django_seeclickfix.allauth_provider.flow import CODE, IMPLICIT, redirect_uri
        from django_seeclickfix.conf import app_settings
        from django_seeclickfix.testing.emulator import RemoteEmulator

        app = settings.SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"][0]
        emulator = RemoteEmulator(app_settings.base_url, timeout=10)
        try:
            emulator.register_app(
                app["client_id"],
                app.get("secret") or None,
                # both flows, so SCF_FLOW can change without registering again
                [redirect_uri(CODE), redirect_uri(IMPLICIT)],
                name=APP_NAME,
                token_regime=token_regime,
                access_token_lifetime=token_lifetime,
            )
        except Exception as err:  # requests' errors or the emulator's refusal: say which
            raise CommandError(
                f"Could not register the app with the emulator at {app_settings.base_url}: {err}"
            ) from err
        finally:
            emulator.close()
        self.stdout.write(
            f"Registered {app['client_id']!r} with the emulator at {app_settings.base_url} "
            f"({token_regime} tokens)."
        )
