"""Testing support: the SeeClickFix emulator and helpers to point a Django project at it.

Importing this package is cheap (pytest imports the plugin in every run); the emulator loads on
first use of one of these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .configure import emulator_settings, use_emulator
    from .emulator import Emulator, RemoteEmulator
    from .linking import link_user

__all__ = ["Emulator", "RemoteEmulator", "emulator_settings", "link_user", "use_emulator"]


def __getattr__(name: str) -> Any:
    if name in ("Emulator", "RemoteEmulator"):
        # Deferred: pytest imports this package in every run; the emulator loads on first use.
        from . import emulator

        return getattr(emulator, name)
    if name in ("emulator_settings", "use_emulator"):
        from . import configure  # deferred: it reads Django settings

        return getattr(configure, name)
    if name == "link_user":
        from . import linking  # deferred: it imports the models

        return linking.link_user
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
