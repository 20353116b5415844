"""The live SeeClickFix test host as a contract target, from environment variables.

Nothing here runs unless ``SEECLICKFIX_LIVE_TESTS=1``; writing contracts need
``SEECLICKFIX_LIVE_WRITE=1`` as well. See docs/contracts.md for each variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import requests

from .target import Pace, Target

GATE = "SEECLICKFIX_LIVE_TESTS"
WRITE_GATE = "SEECLICKFIX_LIVE_WRITE"
BASE_URL = "SEECLICKFIX_LIVE_BASE_URL"
TOKEN = "SEECLICKFIX_LIVE_TOKEN"
CLIENT_ID = "SEECLICKFIX_LIVE_CLIENT_ID"
CLIENT_SECRET = "SEECLICKFIX_LIVE_CLIENT_SECRET"
ISSUE_ID = "SEECLICKFIX_LIVE_ISSUE_ID"
RATE = "SEECLICKFIX_LIVE_RATE"

DEFAULT_BASE_URL = "https://test.seeclickfix.com"
# SeeClickFix documents 20 requests a minute; stay one under it.
DEFAULT_RATE = "19/60"
USER_AGENT = "django-seeclickfix contract suite (+https://github.com/django-seeclickfix)"


@dataclass(frozen=True)
class Gate:
    """Whether the live contracts run, and why not."""

    enabled: bool
    writable: bool
    reason: str


def gate(environ: Mapping[str, str]) -> Gate:
    if environ.get(GATE) != "1":
        return Gate(
            False,
            False,
            f"{GATE} is not 1: the contracts against the live SeeClickFix test host did not run "
            "(see docs/contracts.md)",
        )
    if environ.get(WRITE_GATE) != "1":
        return Gate(True, False, f"writing contracts need {WRITE_GATE}=1 as well")
    return Gate(True, True, "")


def live_target(environ: Mapping[str, str]) -> Target:
    """The test host named by the environment (nothing is contacted yet)."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    token = environ.get(TOKEN, "").strip() or None
    issue = environ.get(ISSUE_ID, "").strip()
    try:
        issue_id = int(issue) if issue else None
    except ValueError:
        raise ValueError(f"{ISSUE_ID} must be an issue id (a number), got {issue!r}") from None
    return Target(
        name="live",
        base_url=environ.get(BASE_URL, "").strip() or DEFAULT_BASE_URL,
        session=session,
        authorization=f"Bearer {token}" if token else None,
        token=token,
        client_id=environ.get(CLIENT_ID, "").strip() or None,
        client_secret=environ.get(CLIENT_SECRET, "").strip() or None,
        writable=gate(environ).writable,
        issue_id=issue_id,
        gate=Pace.parse(environ.get(RATE, "").strip() or DEFAULT_RATE),
    )
