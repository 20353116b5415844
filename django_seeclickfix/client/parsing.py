"""Tolerant readers for the values SeeClickFix sends.

The documentation and the live service disagree in small ways (see the reference's "Quirks"):
timestamps with a US-Eastern offset or with ``Z``, ``"null"`` strings where JSON ``null`` is meant,
numbers sent as strings, ids that are sometimes strings. Every reader here takes whatever came over
the wire and returns a clean Python value or ``None``; none of them raises on odd input, because
one odd field must not make a whole page of issues unreadable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

_NULLISH = frozenset({"", "null", "none", "nil", "undefined"})


def is_nullish(value: Any) -> bool:
    """JSON null, or one of the strings the documentation uses in its place."""
    return value is None or (isinstance(value, str) and value.strip().lower() in _NULLISH)


def web_url(value: Any) -> str | None:
    """An absolute http(s) URL, or ``None``: the only URLs from SeeClickFix that may become a link.

    ``javascript:``, ``data:`` and the like run in the site's origin when clicked; relative URLs
    would point into the site itself. Browsers drop tabs and newlines inside a URL
    (``java\tscript:``), so any control character or space makes the value unusable.
    """
    raw = text(value)
    if raw is None:
        return None
    raw = raw.strip()
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in raw):
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return raw


def text(value: Any) -> str | None:
    """A string, or ``None`` for null-ish values. Numbers are turned into their text."""
    if is_nullish(value) or isinstance(value, Mapping | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def integer(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string (``"5"``); else ``None``."""
    if isinstance(value, bool) or is_nullish(value):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        stripped = value.strip()
        try:
            return int(stripped)
        except ValueError:
            number = number_or_none(stripped)
            return int(number) if number is not None and number.is_integer() else None
    return None


def bigint(value: Any) -> int | None:
    """An integer that fits a 64-bit signed column (ids are stored in ``BigIntegerField``),
    else ``None``: one beyond it could never be stored."""
    number = integer(value)
    return number if number is not None and -(2**63) <= number < 2**63 else None


_COMMENT_FLAG_URL = re.compile(r"/comments/(\d+)/flag/?(?:[?#].*)?$")


def comment_id_from_flag_url(value: Any) -> int | None:
    """The comment id in a ``flag_url`` such as ``…/api/v2/comments/123/flag``.

    Real comments carry no ``id`` key; their flag link is the only place the id appears. A
    link of any other form (the documented sample's ``…/issues/<id>/comments/flag``) gives
    ``None``.
    """
    link = text(value)
    if link is None:
        return None
    match = _COMMENT_FLAG_URL.search(link)
    return bigint(match.group(1)) if match else None


def number_or_none(value: Any) -> float | None:
    """A finite float from a number or a numeric string; else ``None``."""
    if isinstance(value, bool) or is_nullish(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any float
        return None
    return number if math.isfinite(number) else None


def identifier(value: Any) -> int | str | None:
    """An id: an int where it looks like one, else the string (``request_type_id`` may be
    ``"other"``)."""
    as_int = integer(value)
    if as_int is not None:
        return as_int
    return text(value)


def boolean(value: Any) -> bool | None:
    """``True``/``False`` from a bool, ``1``/``0`` or the usual strings; else ``None``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "t", "yes", "1"):
            return True
        if lowered in ("false", "f", "no", "0"):
            return False
    return None


def timestamp(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO 8601 string (offset or ``Z``) or epoch seconds.

    A timestamp without an offset is read as UTC: the documentation promises UTC, and guessing a
    local zone would be worse.
    """
    if isinstance(value, bool) or is_nullish(value):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    raw = value.strip()
    if raw[-1:] in ("z", "Z"):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 9999 west of UTC, or year 1 east of it
        return None


def http_date(value: Any) -> datetime | None:
    """An HTTP date (``Date``, ``Last-Modified``) as an aware UTC datetime, or ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 31 Dec 9999 west of UTC
        return None


def format_timestamp(value: datetime) -> str:
    """The filter format SeeClickFix documents: UTC, whole seconds, ``Z``.

    Fractions are dropped (rounding down keeps an inclusive lower bound inclusive). A naive
    datetime is refused: guessing its zone could skip a whole evening of changes.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("updated_after and other time filters need a timezone-aware datetime.")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> list[Any]:
    """The value if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def status(value: Any) -> str | None:
    """Issue status in the lower case the filters use (responses capitalise it: ``"Open"``)."""
    raw = text(value)
    return raw.strip().lower() if raw is not None else None


def page_number(value: Any) -> int | None:
    """``next_page`` and friends: a positive int, or ``None`` for null, ``"null"`` and junk."""
    number = integer(value)
    return number if number is not None and number > 0 else None
