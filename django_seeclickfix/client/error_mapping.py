"""Mapping SeeClickFix's error answers (status and body) to the error tree of ``exceptions``.

Messages are built from status codes, field names and SeeClickFix's own short texts, never from
request headers or bodies. The body is read through ``HttpResponse.error_body()``, which blanks
out every secret the request knew, since some servers echo the bearer token in an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..exceptions import (
    APIError,
    NotFound,
    PermissionDenied,
    TransientError,
    ValidationError,
)
from .session import HttpResponse

NON_FIELD_ERRORS = "__all__"
_INVALID_TOKEN = re.compile(r'error\s*=\s*"?invalid_token', re.IGNORECASE)
_TOKEN_WORDS = re.compile(
    r"\b(invalid|expired|revoked|unknown)[\s_-]+(access[\s_-]+)?token\b"
    r"|\btoken\b[^.]{0,40}\b(invalid|expired|revoked)\b",
    re.IGNORECASE,
)
_ENVELOPE_KEYS = frozenset({"metadata", "message", "documentation_url", "status"})


def _short(value: Any, limit: int = 200) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def server_message(body: Any) -> str | None:
    """The human text SeeClickFix put in an error body, if any."""
    if isinstance(body, Mapping):
        for key in ("message", "error_description", "error", "request"):
            text = _short(body.get(key))
            if text:
                return text
        errors = body.get("errors")
        if isinstance(errors, Mapping):
            for value in errors.values():
                first = value[0] if isinstance(value, list) and value else value
                text = _short(first)
                if text:
                    return text
    return None


def is_invalid_token(response: HttpResponse, *, sent_credentials: bool) -> bool:
    """401 with credentials, or a 403 that says the token itself is bad (not a permission)."""
    if not sent_credentials:
        return False
    if response.status == 401:
        return True
    if response.status != 403:
        return False
    if _INVALID_TOKEN.search(response.headers.get("WWW-Authenticate", "")):
        return True
    body = response.json_or_none()
    if isinstance(body, Mapping):
        if str(body.get("error", "")).lower() == "invalid_token":
            return True
        message = server_message(body)
        if message and _TOKEN_WORDS.search(message):
            return True
    return False


def normalise_422(body: Any) -> dict[str, list[str]]:
    """The three documented 422 shapes as ``{field: [messages]}``.

    ``{"field": "msg"}``, ``{"errors": {"field": "msg"}}`` and
    ``{"errors": {"field": ["msg", ...]}}``; a bare list or string goes under ``"__all__"``.
    """
    if isinstance(body, Mapping) and "errors" in body and body["errors"]:
        source: Any = body["errors"]
    elif isinstance(body, Mapping):
        source = {
            key: value
            for key, value in body.items()
            if key not in _ENVELOPE_KEYS and key != "errors" and value not in (None, "", [], {})
        }
        if not source and (said := server_message(body)):
            source = {NON_FIELD_ERRORS: said}
    else:
        source = body
    if isinstance(source, str):
        return {NON_FIELD_ERRORS: [source]}
    if isinstance(source, list):
        return {NON_FIELD_ERRORS: [str(item) for item in source]} if source else {}
    errors: dict[str, list[str]] = {}
    if isinstance(source, Mapping):
        for key, value in source.items():
            if isinstance(value, list):
                messages = [str(item) for item in value if item not in (None, "")]
            elif isinstance(value, Mapping):
                messages = [f"{k}: {v}" for k, v in value.items()]
            elif value in (None, ""):
                messages = []
            else:
                messages = [str(value)]
            if messages:
                errors[str(key)] = messages
    return errors


def _said_per_field(errors: Mapping[str, list[str]]) -> str:
    """``follow: already following; lat: is required``: SeeClickFix's own words, kept short."""
    if not errors:
        return "no reason given"
    parts = [f"{field}: {'; '.join(said)}" for field, said in sorted(errors.items())]
    return _short("; ".join(parts), limit=300) or "no reason given"


def raise_for_status(response: HttpResponse) -> None:
    """Raise the error class for a non-2xx answer (429 and abuse 403 are handled earlier)."""
    status = response.status
    if status < 400:
        if 300 <= status and status != 304:
            raise APIError(
                f"SeeClickFix answered {status} without a usable Location to "
                f"{response.method} {response.path}.",
                status=status,
                response=response.response,
            )
        return
    body = response.error_body()
    said = server_message(body)
    where = f"{response.method} {response.path}"
    suffix = f": {said}" if said else "."
    if status >= 500 or status in (408, 425):
        raise TransientError(f"SeeClickFix failed with {status} on {where}{suffix}", status=status)
    if status == 404:
        raise NotFound(
            f"Not found on SeeClickFix: {where}{suffix}",
            status=status,
            body=body,
            response=response.response,
        )
    if status == 403:
        raise PermissionDenied(
            f"SeeClickFix refused {where} for this user (403){suffix}",
            status=status,
            body=body,
            response=response.response,
        )
    if status == 422:
        errors = normalise_422(body)
        raise ValidationError(
            f"SeeClickFix rejected {where} (422): {_said_per_field(errors)}.",
            errors=errors,
            status=status,
            body=body,
            response=response.response,
        )
    raise APIError(
        f"SeeClickFix answered {status} to {where}{suffix}",
        status=status,
        body=body,
        response=response.response,
    )
