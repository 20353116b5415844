"""Point a Django project's settings at an emulator.

``emulator_settings(emulator)`` returns the settings to override (``SEECLICKFIX`` with
``BASE_URL``, ``ENVIRONMENT`` and ``SITE_URL``, ``SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]``
with the emulator's client), merged into the current values so nothing else is lost.
``use_emulator`` applies them to pytest-django's ``settings`` fixture (or anything that takes
attributes) and registers the project's own callback and relay URIs with the emulator.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from .emulator import Emulator, RemoteEmulator

DEFAULT_CLIENT_ID = "scf-emulator-code"
DEFAULT_SECRET = "scf-emulator-code-secret"
# Django's test client talks to "testserver": the redirect URIs are built from it in tests.
TEST_SITE_URL = "http://testserver"


def emulator_settings(
    emulator: Emulator | RemoteEmulator | str,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    secret: str | None = DEFAULT_SECRET,
    environment: str = "emulator",
    site_url: str = TEST_SITE_URL,
    **extra: Any,
) -> dict[str, Any]:
    """Settings for ``override_settings(**...)``. ``extra`` goes into ``SEECLICKFIX`` too
    (e.g. ``FLOW="implicit"``). ``secret=None`` configures a public (implicit-flow) app.
    ``site_url`` is where the emulator sends the browser back (a live server's URL, say)."""
    url = emulator if isinstance(emulator, str) else emulator.url
    seeclickfix = dict(getattr(settings, "SEECLICKFIX", {}) or {})
    seeclickfix.update({"BASE_URL": url, "ENVIRONMENT": environment, "SITE_URL": site_url, **extra})
    providers = copy.deepcopy(dict(getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}) or {}))
    provider = dict(providers.get("seeclickfix", {}))
    provider["APPS"] = [{"client_id": client_id, "secret": secret or "", "key": ""}]
    providers["seeclickfix"] = provider
    return {"SEECLICKFIX": seeclickfix, "SOCIALACCOUNT_PROVIDERS": providers}


def project_redirect_uris(site_url: str) -> list[str]:
    """This project's callback and relay URIs under ``site_url`` (wherever its urls.py put
    allauth's URLs)."""
    from django.urls import reverse  # deferred: the URLconf loads on first use

    return [
        site_url.rstrip("/") + reverse(name)
        for name in ("seeclickfix_callback", "seeclickfix_relay")
    ]


def register_project_uris(emulator: Emulator | RemoteEmulator, site_url: str) -> None:
    """Let both built-in emulator apps send the browser back to this project."""
    from .emulator import CODE_APP_ID, IMPLICIT_APP_ID  # deferred: the emulator needs werkzeug

    for uri in project_redirect_uris(site_url):
        for client_id in (CODE_APP_ID, IMPLICIT_APP_ID):
            emulator.add_redirect_uri(uri, client_id=client_id)


def use_emulator(target: Any, emulator: Emulator | RemoteEmulator | str, **options: Any) -> None:
    """Apply ``emulator_settings`` to ``target`` (pytest-django's ``settings`` fixture) and
    register the project's redirect URIs with ``emulator``."""
    values = emulator_settings(emulator, **options)
    for name, value in values.items():
        setattr(target, name, value)
    if not isinstance(emulator, str):
        register_project_uris(emulator, values["SEECLICKFIX"]["SITE_URL"])
