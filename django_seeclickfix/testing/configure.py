"""Point a Django project's settings at an emulator.

``emulator_settings(emulator)`` returns the settings to override (``SEECLICKFIX`` with
``BASE_URL`` and ``ENVIRONMENT``, ``SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]`` with the
emulator's client), merged into the current values so nothing else is lost. ``use_emulator``
applies them to pytest-django's ``settings`` fixture (or anything that takes attributes).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from .emulator import Emulator, RemoteEmulator

DEFAULT_CLIENT_ID = "scf-emulator-code"
DEFAULT_SECRET = "scf-emulator-code-secret"


def emulator_settings(
    emulator: Emulator | RemoteEmulator | str,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    secret: str | None = DEFAULT_SECRET,
    environment: str = "emulator",
    **extra: Any,
) -> dict[str, Any]:
    """Settings for ``override_settings(**...)``. ``extra`` goes into ``SEECLICKFIX`` too
    (e.g. ``FLOW="implicit"``). ``secret=None`` configures a public (implicit-flow) app."""
    url = emulator if isinstance(emulator, str) else emulator.url
    seeclickfix = dict(getattr(settings, "SEECLICKFIX", {}) or {})
    seeclickfix.update({"BASE_URL": url, "ENVIRONMENT": environment, **extra})
    providers = copy.deepcopy(dict(getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}) or {}))
    provider = dict(providers.get("seeclickfix", {}))
    provider["APPS"] = [{"client_id": client_id, "secret": secret or "", "key": ""}]
    providers["seeclickfix"] = provider
    return {"SEECLICKFIX": seeclickfix, "SOCIALACCOUNT_PROVIDERS": providers}


def use_emulator(target: Any, emulator: Emulator | RemoteEmulator | str, **options: Any) -> None:
    """Apply ``emulator_settings`` to ``target`` (pytest-django's ``settings`` fixture)."""
    for name, value in emulator_settings(emulator, **options).items():
        setattr(target, name, value)
