"""Run the SeeClickFix emulator from a Django project: ``manage.py seeclickfix_emulator``.

The same server and options as ``python -m django_seeclickfix.testing.emulator``; it also prints
the settings that point this project at it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...testing.emulator import CODE_APP_ID, CODE_APP_SECRET, Emulator
from ...testing.emulator.cli import add_arguments, emulator_from_options, serve


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
