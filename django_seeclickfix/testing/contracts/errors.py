"""Contracts of the error answers the library tells apart: 401, 403, 404, 422 and 429."""

from __future__ import annotations

from typing import Any

from urllib3.util import SKIP_HEADER

from .listing import own_issue_id
from .registry import check, contract
from .target import Target, body, shown

MISSING_ID = 999_999_999


def _validation_shape(data: Any) -> str | None:
    """Which of the three documented 422 shapes ``data`` has, or None."""
    if not isinstance(data, dict) or not data:
        return None
    errors = data.get("errors")
    if isinstance(errors, dict) and errors:
        values = list(errors.values())
        if all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in values):
            return '{"errors": {"field": ["message"]}}'
        if all(isinstance(v, str) for v in values):
            return '{"errors": {"field": "message"}}'
        return None
    if all(isinstance(v, str) for v in data.values()):
        return '{"field": "message"}'
    return None


@contract(
    "errors.unauthenticated",
    "An endpoint that needs a user (GET /profile/issues) answers 401 without credentials.",
    tags={"read"},
    guess="Endpoints that need a user answer 401 without credentials, as Doorkeeper's "
    "doorkeeper_authorize! does (SeeClickFix documents only /profile's anonymous answer).",
)
def errors_unauthenticated(target: Target) -> str:
    response = target.get("/profile/issues")
    check(response.status_code == 401, shown(response))
    return shown(response)


@contract(
    "errors.not_found",
    "An issue or user that does not exist answers 404.",
    tags={"read"},
)
def errors_not_found(target: Target) -> str:
    for path in (f"/issues/{MISSING_ID}", f"/users/{MISSING_ID}"):
        response = target.get(path)
        check(response.status_code == 404, f"GET {path} answered {shown(response)}")
    return "404 for both"


@contract(
    "errors.not_found_body",
    'A 404 carries {"message": "Not Found"}.',
    tags={"read"},
    guess='The 404 body is {"message": "Not Found"} (SeeClickFix promises no body; the '
    "emulator's choice).",
)
def errors_not_found_body(target: Target) -> str:
    response = target.get(f"/issues/{MISSING_ID}")
    check(body(response) == {"message": "Not Found"}, shown(response))
    return shown(response)


@contract(
    "errors.no_user_agent",
    "A request without a User-Agent is refused with 403.",
    tags={"read"},
    guess="Requests without a User-Agent get 403 (SeeClickFix documents that they are "
    "rejected, not how).",
)
def errors_no_user_agent(target: Target) -> str:
    # urllib3 would add its own User-Agent to a request without one; SKIP_HEADER stops it.
    response = target.get("/profile", headers={"User-Agent": SKIP_HEADER})
    check(response.status_code == 403, shown(response))
    return shown(response)


@contract(
    "errors.unparseable_filter",
    "A filter time that does not parse (updated_at_after=garbage) answers 422 with field "
    "errors in one of the documented shapes.",
    tags={"read"},
    guess="An unparseable updated_at_after gets 422 with the field named (the emulator's "
    "choice; SeeClickFix might ignore the filter or answer 400).",
)
def errors_unparseable_filter(target: Target) -> str:
    response = target.get("/issues", params={"updated_at_after": "not-a-time"})
    shape = _validation_shape(body(response))
    check(response.status_code == 422 and shape, shown(response))
    return f"422, shaped {shape}"


@contract(
    "errors.rate_limited",
    'Over the rate limit a request gets 429 {"message": "Too Many Requests"} with '
    "Retry-After in whole seconds.",
    tags={"read"},
    needs={"control"},
)
def errors_rate_limited(target: Target) -> str:
    assert target.control is not None
    target.control.set_rate_limit(2, 60)
    try:
        answers = [target.get("/profile", wait_out_rate_limit=False) for _ in range(3)]
    finally:
        target.control.set_rate_limit(None)
    last = answers[-1]
    check(last.status_code == 429, f"the third request in a 2/60 s limit answered {shown(last)}")
    retry_after = last.headers.get("Retry-After", "")
    check(retry_after.isdigit() and int(retry_after) > 0, f"Retry-After {retry_after!r}")
    check((body(last) or {}).get("message") == "Too Many Requests", shown(last))
    return f"429, Retry-After {retry_after}"


@contract(
    "errors.forbidden",
    "Acknowledging an issue as a user without permissions.can_acknowledge answers 403.",
    tags={"write"},
    needs={"user"},
)
def errors_forbidden(target: Target) -> str:
    profile = body(target.get("/profile", signed_in=True)) or {}
    check(
        not (profile.get("permissions") or {}).get("can_acknowledge"),
        "the signed-in user may acknowledge issues: this contract needs one who may not",
    )
    issue_id = own_issue_id(target)
    response = target.api(
        "POST",
        f"/issues/{issue_id}/acknowledge",
        data={"comment": "Contract check by django-seeclickfix; please ignore."},
        signed_in=True,
    )
    check(response.status_code == 403, shown(response))
    return shown(response)


@contract(
    "errors.validation",
    "A comment without text answers 422 with field errors in one of the three documented shapes.",
    tags={"write"},
    needs={"user"},
)
def errors_validation(target: Target) -> str:
    issue_id = own_issue_id(target)
    response = target.api(
        "POST", f"/issues/{issue_id}/comments", data={"comment": ""}, signed_in=True
    )
    shape = _validation_shape(body(response))
    check(response.status_code == 422 and shape, shown(response))
    return f"422, shaped {shape}"
