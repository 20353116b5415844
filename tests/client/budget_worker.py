"""A separate process spending the shared budget: ``python -m tests.client.budget_worker``.

Arguments: Redis URL, SeeClickFix base URL, bearer token, request count, rate limit, period.
Prints one JSON line: the statuses it got and the errors it saw. Configures Django itself, so the
budget comes from ``SEECLICKFIX`` and lives in Redis exactly as in production.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    redis_url, base_url, token, count, limit, period = argv
    import django
    from django.conf import settings

    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
            }
        },
        SEECLICKFIX={
            "RATE_LIMIT_REQUESTS": int(limit),
            "RATE_LIMIT_PERIOD": float(period),
            "RATE_LIMIT_MAX_WAIT": 60.0,
        },
        USE_TZ=True,
    )
    django.setup()
    from django_seeclickfix.client import BearerAuth, SeeClickFixClient
    from django_seeclickfix.exceptions import SeeClickFixError

    client = SeeClickFixClient(base_url, BearerAuth(token))
    results: list[str] = []
    for _ in range(int(count)):
        try:
            client.get_profile()
            results.append("ok")
        except SeeClickFixError as err:
            results.append(f"{type(err).__name__}: {err}")
    print(json.dumps({"results": results, "stats": client.session.budget.stats.snapshot()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
