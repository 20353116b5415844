"""Locks in the shared cache: one sync per account, one feed pass per area, at a time.

The cache is ``SEECLICKFIX["RATE_LIMIT_CACHE"]`` (shared by every worker, like the rate budget)
and a lock lives ``SYNC_LOCK_TTL`` seconds if its holder dies.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

from django.core.cache import caches

from .conf import app_settings
from .exceptions import SiteCacheUnavailable

logger = logging.getLogger(__name__)

SYNC_LOCK_PREFIX = "scf:sync-lock"
FEED_LOCK_PREFIX = "scf:feed-lock"


class CacheLock:
    """A lock on ``key`` in the shared cache, with a time-to-live (``SYNC_LOCK_TTL``).

    ``owner`` is the Celery task id: a message delivered again after its worker died carries the
    same id and may take over the lock its first delivery left behind, instead of waiting for
    ``SYNC_LOCK_TTL`` to pass.
    """

    def __init__(self, key: str, owner: str | None = None) -> None:
        self.key = key
        self.owner = owner or uuid.uuid4().hex
        self.held = False

    def _cache(self) -> Any:
        return caches[app_settings.RATE_LIMIT_CACHE]

    def acquire(self) -> bool:
        ttl = app_settings.SYNC_LOCK_TTL
        try:
            cache = self._cache()
            if cache.add(self.key, self.owner, ttl):
                self.held = True
            elif cache.get(self.key) == self.owner:
                cache.set(self.key, self.owner, ttl)
                self.held = True
        except Exception as err:
            raise SiteCacheUnavailable(
                f"The sync lock's cache is unavailable ({type(err).__name__}). Check the cache "
                "in SEECLICKFIX['RATE_LIMIT_CACHE'].",
                alias=app_settings.RATE_LIMIT_CACHE,
            ) from err
        return self.held

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            cache = self._cache()
            # Not atomic, but the worst case is deleting a lock whose TTL ran out and which
            # another holder took in between: two syncs of one account, both idempotent.
            if cache.get(self.key) == self.owner:
                cache.delete(self.key)
        except Exception:
            logger.warning("Could not release %s; it expires by itself", self.key, exc_info=True)


class SyncLock(CacheLock):
    """One sync at a time per account."""

    def __init__(self, account_id: int, owner: str | None = None) -> None:
        super().__init__(f"{SYNC_LOCK_PREFIX}:{account_id}", owner)


class AreaLock(CacheLock):
    """One feed pass at a time per area of the configured environment."""

    def __init__(self, area: str, owner: str | None = None) -> None:
        # Hashed: area names are free text, cache keys (Memcached's) are not.
        digest = hashlib.sha256(area.encode()).hexdigest()[:24]
        super().__init__(f"{FEED_LOCK_PREFIX}:{app_settings.ENVIRONMENT}:{digest}", owner)


__all__ = ["AreaLock", "CacheLock", "SyncLock"]
