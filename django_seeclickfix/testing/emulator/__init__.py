"""The SeeClickFix emulator: ``Emulator`` in-process, ``RemoteEmulator`` over its control API.

Run it standalone with ``python -m django_seeclickfix.testing.emulator --port 8001``.
"""

from .core import DEFAULT_REDIRECT_URIS, AuthorizationFailed, Emulator
from .faults import KINDS as FAULT_KINDS
from .models import CODE_APP_ID, CODE_APP_SECRET, IMPLICIT_APP_ID
from .oauth import IssuedToken, parse_fragment, s256
from .remote import RemoteEmulator

__all__ = [
    "CODE_APP_ID",
    "CODE_APP_SECRET",
    "DEFAULT_REDIRECT_URIS",
    "FAULT_KINDS",
    "IMPLICIT_APP_ID",
    "AuthorizationFailed",
    "Emulator",
    "IssuedToken",
    "RemoteEmulator",
    "parse_fragment",
    "s256",
]
