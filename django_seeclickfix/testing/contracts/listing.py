"""Reading listings and issues for the contracts: envelopes, timestamps, a few issues to probe."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from .registry import Broken, check
from .target import Target, body, shown

PAGINATION_KEYS = (
    "entries",
    "page",
    "per_page",
    "pages",
    "next_page",
    "next_page_url",
    "previous_page",
    "previous_page_url",
)
STATUSES = ("Open", "Acknowledged", "Closed", "Archived")


def listing(
    target: Target, path: str, key: str = "issues", *, signed_in: bool = False, **params: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``GET path`` as a paginated listing: (items, metadata.pagination), checked for shape."""
    response = target.get(path, params=params, signed_in=signed_in)
    check(response.status_code == 200, f"GET {path} answered {shown(response)}")
    data = body(response)
    if not isinstance(data, dict):
        raise Broken(f"GET {path} answered no JSON object: {shown(response)}")
    items = data.get(key)
    if not isinstance(items, list):
        raise Broken(f"GET {path} has no {key!r} list: keys {sorted(data)}")
    pagination = (data.get("metadata") or {}).get("pagination")
    if not isinstance(pagination, dict):
        raise Broken(f"GET {path} has no metadata.pagination")
    missing = [k for k in PAGINATION_KEYS if k not in pagination]
    check(not missing, f"metadata.pagination of GET {path} lacks {missing}")
    for name in ("entries", "page", "per_page", "pages"):
        check(
            isinstance(pagination[name], int) and not isinstance(pagination[name], bool),
            f"metadata.pagination.{name} of GET {path} is {pagination[name]!r}, not a number",
        )
    return items, pagination


def expected_pages(pagination: dict[str, Any]) -> int:
    per_page = max(1, int(pagination["per_page"]))
    return math.ceil(int(pagination["entries"]) / per_page)


def timestamp(value: Any) -> datetime:
    """An issue timestamp (offset or Z) as aware UTC."""
    check(isinstance(value, str), f"timestamp {value!r} is not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Broken(f"timestamp {value!r} does not parse as ISO 8601") from None
    check(parsed.tzinfo is not None, f"timestamp {value!r} has no offset")
    return parsed.astimezone(UTC)


def filter_time(moment: datetime) -> str:
    """The filters' format: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ids(items: list[dict[str, Any]]) -> list[Any]:
    return [item.get("id") for item in items]


def newest_issues(target: Target, count: int) -> list[dict[str, Any]]:
    """The ``count`` most recently updated issues of the default listing."""
    items, _ = listing(target, "/issues", sort="updated_at", sort_direction="DESC", per_page=count)
    check(items, "GET /issues lists no issue at all: the contracts need a server with data")
    return items


def some_issue(target: Target) -> dict[str, Any]:
    """One issue to probe (the most recently updated)."""
    return newest_issues(target, 1)[0]


def own_issue_id(target: Target) -> int:
    """The issue the writing contracts work on: the target's, else the user's first report."""
    if target.issue_id is not None:
        return target.issue_id
    items, _ = listing(target, "/profile/issues", signed_in=True, per_page=1)
    check(
        items,
        "the signed-in user has reported no issue; the writing contracts need one of their own "
        "(report one, or name one)",
    )
    found = items[0].get("id")
    if not isinstance(found, int):
        raise Broken(f"/profile/issues lists an issue without an id: {found!r}")
    return found


def profile_id(target: Target) -> int:
    response = target.get("/profile", signed_in=True)
    data = body(response)
    check(
        response.status_code == 200 and isinstance(data, dict) and isinstance(data.get("id"), int),
        f"GET /profile signed in answered {shown(response)}",
    )
    return int(data["id"])
