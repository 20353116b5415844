"""Where the client remembers ``ETag``s for conditional requests.

Keys are hashes of the URL, the sorted query and the auth's identity (itself a hash), so the
store never holds a token and two users never share an ETag. The default store is Django's
cache alias ``SEECLICKFIX["ETAG_CACHE"]``; any object with ``get``/``set`` works.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

from django.core.cache import caches

ETAG_TTL = 30 * 24 * 3600  # a month: an account synced less often simply pays one full fetch


class EtagStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, etag: str) -> None: ...


def etag_key(url: str, params: Mapping[str, Any] | None, identity: str) -> str:
    query = urlencode(sorted((str(k), str(v)) for k, v in (params or {}).items()))
    digest = hashlib.sha256(f"{identity}\x1f{url}\x1f{query}".encode()).hexdigest()
    return f"scf:etag:{digest[:40]}"


class CacheEtagStore:
    """ETags in one of Django's caches."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def _cache(self) -> Any:
        return caches[self.alias]

    def get(self, key: str) -> str | None:
        value = self._cache().get(key)
        return value if isinstance(value, str) else None

    def set(self, key: str, etag: str) -> None:
        self._cache().set(key, etag, ETAG_TTL)

    def __repr__(self) -> str:
        return f"CacheEtagStore({self.alias!r})"


class MemoryEtagStore:
    """A bounded in-process store (scripts without Django settings, tests)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def set(self, key: str, etag: str) -> None:
        with self._lock:
            self._data[key] = etag
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)


class NoEtagStore:
    """Never conditional."""

    def get(self, key: str) -> str | None:
        return None

    def set(self, key: str, etag: str) -> None:
        return None
