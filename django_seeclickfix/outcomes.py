"""What one sync of an account, or one area of a feed pass, came to.

The values are the ``outcome`` of the task results, of the ``account_synced`` summary and of
``seeclickfix_sync``'s counters. :class:`Outcome` is a ``str`` enum, so results stay plain JSON.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    SYNCED = "synced"  # something was read and stored
    UNCHANGED = "unchanged"  # nothing new since the cursor
    SKIPPED = "skipped"  # the account is gone, disconnected, inactive or of another environment
    LOCKED = "locked"  # another sync of the same account (or pass of the same area) is running
    REAUTH_REQUIRED = "reauth_required"  # the link needs its user to connect again


__all__ = ["Outcome"]
