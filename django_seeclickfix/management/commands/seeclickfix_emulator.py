"""Run the SeeClickFix emulator from a Django project: ``manage.py seeclickfix_emulator``.

The same server and options as ``python -m django_seeclickfix.testing.emulator``; its two
built-in apps also accept this project's own callback and relay URIs (from ``SITE_URL`` or the
sites framework, and this project's URLconf), and it prints the settings that point this project
at it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from ...testing.emulator import CODE_APP_ID, CODE_APP_SECRET, Emulator
from ...testing.emulator.cli import add_arguments, emulator_from_options, serve


def project_uris() -> list[str]:
    """This project's callback and relay URIs, or none when the site root is not set yet."""
    from ...allauth_provider.flow import site_root  # deferred: it loads allauth's provider
    from ...testing.configure import project_redirect_uris  # deferred: as the line above

    try:
        return project_redirect_uris(site_root())
    except (ImproperlyConfigured, DatabaseError):
        return []


def settings_hint(emulator: Emulator) -> str:
    return (
        "Settings that point this project at it:\n"
        f'  SEECLICKFIX = {{..., "BASE_URL": "{emulator.url}", "ENVIRONMENT": "emulator"}}\n'
        '  SOCIALACCOUNT_PROVIDERS = {"seeclickfix": {"APPS": [\n'
        f'      {{"client_id": "{CODE_APP_ID}", "secret": "{CODE_APP_SECRET}"}}]}}}}'
    )


class Command(BaseCommand):
    help = (
        "Run the SeeClickFix emulator (OAuth server + API v2) for development: prints its URL, "
        "OAuth clients and demo users with their passwords."
    )
    requires_system_checks: list[str] = []  # a separate server: the site may be half set up

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        options["redirect_uri"] = list(
            dict.fromkeys([*(options.get("redirect_uri") or []), *project_uris()])
        )
        try:
            emulator = emulator_from_options(options)
        except ValueError as err:
            raise CommandError(str(err)) from err
        try:
            serve(
                emulator,
                out=self.stdout,  # type: ignore[arg-type]
                log_requests=options["log_requests"],
                footer=settings_hint,
            )
        except OSError as err:
            raise CommandError(
                f"Cannot serve on {options['host']}:{options['port']}: {err}"
            ) from err
