"""Fixtures of the security and reliability suite (see SECURITY.md for what each test proves).

The OAuth helpers (``start``, ``callback``, ``mock_scf``, the ``mocked`` fixture…) are the linking
tests' own, imported rather than copied, so both suites drive the flow the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.core.cache import caches
from django.test import override_settings

from django_seeclickfix import sealing
from django_seeclickfix.models import SeeClickFixAccount
from tests.linking.conftest import (  # noqa: F401  (ada, bob, mocked: fixtures)
    BASE_SETTINGS,
    CALLBACK_URI,
    RELAY_URI,
    ada,
    assert_secure_headers,
    bob,
    mocked,
)

ROOT_EXCEPTIONS = "django_seeclickfix.exceptions.SeeClickFixError"


@pytest.fixture(autouse=True)
def _security_settings() -> Iterator[None]:
    """A budget that never waits and the linking tests' keys and site URL."""
    caches["default"].clear()
    with override_settings(SEECLICKFIX=dict(BASE_SETTINGS)):
        yield
    caches["default"].clear()


def links() -> int:
    """Everything a link leaves behind: our accounts, allauth's social accounts and tokens."""
    return (
        SeeClickFixAccount.objects.count()
        + SocialAccount.objects.count()
        + SocialToken.objects.count()
    )


def fresh_grant(emulator: Any, user: Any) -> Any:
    """What reconnecting ``user`` gives linking: a new token pair from the emulator, sealed
    as the OAuth views seal it."""
    from django.utils import timezone

    from django_seeclickfix.client import TokenResponse

    issued = emulator.issue_token(user)
    response = TokenResponse(
        issued.access_token, "Bearer", issued.expires_in, issued.refresh_token, None, None
    )
    return sealing.unseal_tokens(sealing.seal_tokens(response, received_at=timezone.now()))
