"""A cache backend whose server is down: every operation raises, as a Redis client does."""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.base import BaseCache


class BrokenCache(BaseCache):
    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)

    def _down(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("Error 111 connecting to cache:6379. Connection refused.")

    add = get = set = delete = touch = incr = clear = get_many = set_many = _down
