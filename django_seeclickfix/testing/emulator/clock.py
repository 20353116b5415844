"""The emulator's clock: real time plus an offset tests can move forward.

Token expiry, the 10-minute authorization-code lifetime and the rate-limit window all read this
clock, so a test advances it instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch, as the emulator sees it."""
        return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("The emulator's clock only moves forward.")
        with self._lock:
            self._offset += seconds

    @property
    def offset(self) -> float:
        return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
