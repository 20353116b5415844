"""The signed-in user's SeeClickFix link in the environment this site is configured for."""

from __future__ import annotations

from typing import Any

from django_seeclickfix.models import SeeClickFixAccount


def current_account(user: Any) -> SeeClickFixAccount | None:
    """The user's link, whatever its status (a revoked one still shows why it stopped)."""
    return (
        SeeClickFixAccount.objects.for_environment()
        .filter(user=user)
        .order_by("-status_changed_at")
        .first()
    )
