"""Hypothesis strategies for hostile SeeClickFix answers, and a scripted requests transport.

The answers are built to reach deep into the parsers: besides random bytes and random JSON,
bodies shaped like the real ones (profile, issue pages, token responses, error bodies) whose
leaves are odd values (huge or negative numbers, NaN, ``"null"``, edge-of-range timestamps,
NUL characters, nested junk).
"""

from __future__ import annotations

import http.client
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter
from urllib3 import HTTPResponse

MAX_REQUESTS_PER_CALL = 40  # far above any legitimate walk over the scripted answers


# "quick" (the default): a tenth of each fuzz test's cases, every fuzz test still runs; CI sets
# SCF_FUZZ=thorough (.ci/run) for the full counts.
FUZZ_PROFILE = os.environ.get("SCF_FUZZ", "quick")
if FUZZ_PROFILE not in ("quick", "thorough"):
    raise RuntimeError(f"SCF_FUZZ must be 'quick' or 'thorough', not {FUZZ_PROFILE!r}.")


def fuzz_cases(cases: int) -> int:
    """How many of a fuzz test's ``cases`` this run tries (see ``FUZZ_PROFILE``)."""
    return cases if FUZZ_PROFILE == "thorough" else max(10, cases // 10)


def fuzz_settings(cases: int) -> settings:
    """``max_examples`` set explicitly (``fuzz_cases``); no deadline (a shared CI machine is
    slow at times); the fixtures (database, logged-in browser) are shared by the examples on
    purpose, each example cleaning up after itself."""
    return settings(
        max_examples=fuzz_cases(cases),
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


class BusyLoop(AssertionError):
    """The code under test kept sending requests: not an error tree member, so it surfaces."""


EDGE_TIMESTAMPS = [
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "2024-02-30T10:00:00-05:00",
    "2024-03-10T02:30:00-05:00",
    "2024-01-01T10:00:00.123456789-05:00",
    "2024-01-01",
    "2024-01-01T10:00:00+25:00",
    "Z",
    " ",
    "null",
    "1e400",
    "-62135596800",
]

odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "null", "None", "nil", "undefined", "\x00", "a\x00b", "\ud800", "a\udfffb"]
    ),
    st.sampled_from(EDGE_TIMESTAMPS),
    st.from_regex(r"\A-?\d{1,25}(\.\d{0,5})?\Z"),
)
odd_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
)
odd_scalar = st.one_of(st.none(), st.booleans(), odd_number, odd_text)
json_values = st.recursive(
    odd_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)


def odd(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value most of the time, an odd one otherwise."""
    return st.one_of(value, json_values)


def shaped(keys: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with some of ``keys`` (each value plausible or odd) and perhaps junk keys."""
    return st.fixed_dictionaries({}, optional={k: odd(v) for k, v in keys.items()}).flatmap(
        lambda base: st.dictionaries(st.text(max_size=8), json_values, max_size=2).map(
            lambda junk: {**junk, **base}
        )
    )


timestamps = st.one_of(st.sampled_from(EDGE_TIMESTAMPS), st.just("2024-03-01T10:00:00-05:00"))
ids = st.integers(min_value=1, max_value=2**40)
user_json = shaped({"id": ids, "name": st.text(max_size=20), "avatar": st.just({"full": "x"})})
issue_json = shaped(
    {
        "id": ids,
        "status": st.sampled_from(["Open", "Closed", "Acknowledged", "Archived"]),
        "summary": st.text(max_size=30),
        "description": st.text(max_size=30),
        "address": st.text(max_size=30),
        "lat": st.floats(-90, 90),
        "lng": st.floats(-180, 180),
        "rating": st.integers(0, 10),
        "created_at": timestamps,
        "updated_at": timestamps,
        "closed_at": timestamps,
        "html_url": st.just("https://seeclickfix.com/issues/1"),
        "reporter": user_json,
        "comments": st.lists(
            shaped({"comment": st.text(max_size=10), "commenter": user_json}), max_size=2
        ),
        "questions": st.lists(json_values, max_size=2),
        "current_user_relationship": st.dictionaries(st.text(max_size=5), json_values, max_size=2),
    }
)
pagination = shaped(
    {
        "page": st.integers(0, 5),
        "per_page": st.integers(0, 100),
        "pages": st.integers(0, 5),
        "entries": st.integers(0, 500),
        "next_page": st.one_of(st.none(), st.integers(0, 6), st.just("null")),
    }
)


def listing(key: str, item: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return shaped(
        {
            key: st.lists(item, max_size=4),
            "metadata": shaped({"pagination": pagination}),
            "errors": st.one_of(st.none(), st.just({})),
        }
    )


profile_json = shaped(
    {
        "id": ids,
        "name": st.text(max_size=20),
        "email": st.text(max_size=20),
        "permissions": shaped({"can_acknowledge": st.booleans()}),
        "created_at": timestamps,
        "reported_issue_count": st.integers(0, 100),
    }
)
token_json = shaped(
    {
        "access_token": st.text(min_size=1, max_size=20),
        "refresh_token": st.text(min_size=1, max_size=20),
        "token_type": st.just("Bearer"),
        "expires_in": st.integers(-10, 10**13),
        "scope": st.text(max_size=10),
        "created_at": st.one_of(st.integers(0, 2**40), timestamps),
    }
)
error_json = shaped(
    {
        "error": st.sampled_from(["invalid_grant", "invalid_token", "invalid_client", "x y"]),
        "error_description": st.text(max_size=30),
        "message": st.sampled_from(["Request forbidden by administrative rules.", "Not Found"]),
        "errors": st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    }
)
token_info_json = shaped(
    {"application": shaped({"uid": st.text(max_size=10)}), "resource_owner_id": ids}
)

json_body = st.one_of(
    json_values,
    profile_json,
    listing("issues", issue_json),
    listing("comments", shaped({"comment": st.text(max_size=10), "commenter": user_json})),
    listing("emails", shaped({"email": st.text(max_size=10), "confirmed": st.booleans()})),
    issue_json,
    token_json,
    error_json,
    token_info_json,
    shaped({"metadata": shaped({"moderated": st.booleans()})}),
    shaped({"request_types": st.lists(json_values, max_size=3), "questions": json_values}),
)


def encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


bodies = st.one_of(
    json_body.map(encode),
    st.binary(max_size=64),
    json_body.map(encode).map(lambda raw: raw[: len(raw) // 2]),  # cut in the middle
    st.sampled_from(
        [b"", b"null", b"NaN", b"[]", b"{}", b'"x"', b"1" * 5000, b"\xff\xfe{}", b"[" * 50000]
    ),
)
statuses = st.one_of(
    st.sampled_from(
        [200, 201, 202, 204, 301, 302, 303, 304, 307, 400, 401, 403, 404, 408, 422, 429, 500, 503]
    ),
    st.integers(100, 599),
)
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.sampled_from(
        [
            "0",
            "-1",
            "1e400",
            "nan",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 +2359",
            "Fri, 31 Dec 9999 23:59:59 -2359",
            "Mon, 01 Jan 0001 00:00:00 +2359",
            "Mon, 01 Jan 0001 00:00:00 GMT",
            'Bearer error="invalid_token"',
            "/api/v2/profile",
            "https://elsewhere.example/x",
            "//elsewhere.example/x",
            "gzip",
            'W/"1"',
        ]
    ),
)
headers = st.dictionaries(
    st.sampled_from(
        [
            "Content-Type",
            "Retry-After",
            "Location",
            "ETag",
            "WWW-Authenticate",
            "Content-Length",
            "Content-Encoding",
            "Date",
            "Last-Modified",
        ]
    ),
    header_values,
    max_size=4,
)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    failure: str | None = None  # "reset", "timeout", "truncated"


failures = st.sampled_from([None, None, None, None, None, None, "reset", "timeout", "truncated"])
answers = st.builds(Answer, statuses, headers, bodies, failures)


class _Cut(io.BytesIO):
    """A body that ends early with the error a dropped connection gives."""

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size if size is not None and size >= 0 else None)
        if not data:
            raise http.client.IncompleteRead(b"", 10)
        return data


@dataclass
class ScriptedTransport(BaseAdapter):  # type: ignore[misc]
    """A requests transport answering from a script (the last answer repeats)."""

    script: Sequence[Answer] = ()
    sent: list[requests.PreparedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        for name, value in request.headers.items():
            # What http.client does before anything is sent: header values must be latin-1
            # (UnicodeEncodeError otherwise) and free of bare line breaks.
            raw = value.encode("latin-1") if isinstance(value, str) else value
            if http.client._is_illegal_header_value(raw):  # type: ignore[attr-defined]
                raise ValueError(f"Invalid header value for {name}")
        if len(self.sent) > MAX_REQUESTS_PER_CALL:
            raise BusyLoop(f"{len(self.sent)} requests for one call: {request.url}")
        answer = self.script[min(len(self.sent), len(self.script)) - 1]
        if answer.failure == "reset":
            raise requests.ConnectionError("Connection reset by peer")
        if answer.failure == "timeout":
            raise requests.ReadTimeout("read timed out")
        raw_body = _Cut(answer.body) if answer.failure == "truncated" else io.BytesIO(answer.body)
        raw = HTTPResponse(
            body=raw_body,
            headers=answer.headers,
            status=answer.status,
            preload_content=False,
            decode_content=False,
            enforce_content_length=True,
        )
        response = requests.Response()
        response.status_code = answer.status
        response.headers = requests.structures.CaseInsensitiveDict(answer.headers)
        response.raw = raw
        response.url = request.url or ""
        response.request = request
        response.reason = "scripted"
        response.encoding = None
        return response

    def close(self) -> None:
        pass
