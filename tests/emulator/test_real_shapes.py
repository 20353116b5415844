"""The emulator's default answers against the real service's shapes, key by key and type by type.

The shapes are the reference's section "Real shapes and limits (2017-2026)": what third parties
captured from the live service. ``Shape`` below is that table written as types; a key listed as
absent must not be there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from .conftest import bearer

EASTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[45]:00$")
NULL = type(None)
TIMESTAMP = "timestamp"  # a string with a US-Eastern offset
COMMENT_FLAG = re.compile(r"/api/v2/comments/(\d+)/flag$")


@dataclass
class Shape:
    """Required keys with their allowed types (or a nested ``Shape``), and forbidden keys."""

    keys: dict[str, Any]
    absent: tuple[str, ...] = ()
    optional: dict[str, Any] = field(default_factory=dict)


def check(shape: Any, value: Any, where: str = "$") -> None:
    if isinstance(shape, Shape):
        assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
        missing = sorted(set(shape.keys) - set(value))
        assert not missing, f"{where}: keys missing: {missing}"
        forbidden = sorted(set(shape.absent) & set(value))
        assert not forbidden, f"{where}: keys the real service does not send: {forbidden}"
        for key, sub in {**shape.keys, **shape.optional}.items():
            if key in value:
                check(sub, value[key], f"{where}.{key}")
    elif isinstance(shape, list):
        assert isinstance(value, list), f"{where}: expected an array, got {value!r}"
        assert value, f"{where}: the emulator's array is empty"
        for n, item in enumerate(value):
            check(shape[0], item, f"{where}[{n}]")
    elif isinstance(shape, tuple):  # alternatives
        errors = []
        for alternative in shape:
            try:
                check(alternative, value, where)
                return
            except AssertionError as err:
                errors.append(str(err))
        raise AssertionError(f"{where}: none of the alternatives fit: {errors}")
    elif shape == TIMESTAMP:
        assert isinstance(value, str), f"{where}: expected a timestamp, got {value!r}"
        assert EASTERN.match(value), f"{where}: not a US-Eastern timestamp: {value!r}"
    elif shape is int:
        assert not isinstance(value, bool), f"{where}: expected an integer, got {value!r}"
        assert isinstance(value, int), f"{where}: expected an integer, got {value!r}"
    elif shape is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        assert ok, f"{where}: expected a number, got {value!r}"
    else:
        assert isinstance(value, shape), f"{where}: expected {shape}, got {value!r}"


AVATAR = Shape({"full": str, "square_100x100": str})
PERSON = Shape(
    {
        "id": int,
        "name": str,
        "witty_title": str,
        "avatar": AVATAR,
        "role": str,
        "civic_points": int,
        "html_url": str,
    }
)
REQUEST_TYPE = (
    Shape(
        {
            "id": int,
            "title": str,
            "organization": str,
            "url": str,
            "related_issues_url": str,
        }
    ),
    Shape({}, absent=("id", "title")),  # the {} of about 1 % of live items
)
TRANSITIONS = Shape({}, optional={"close_url": str, "open_url": str})
MEDIA = Shape(
    {
        "image_full": (str, NULL),
        "image_square_100x100": (str, NULL),
        "representative_image_url": (str, NULL),
        "video_url": (str, NULL),
    }
)
ISSUE_KEYS: dict[str, Any] = {
    "id": int,
    "status": str,
    "summary": str,
    "description": (str, NULL),
    "rating": int,
    "lat": float,
    "lng": float,
    "address": (str, NULL),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "acknowledged_at": (TIMESTAMP, NULL),
    "closed_at": (TIMESTAMP, NULL),
    "reopened_at": (TIMESTAMP, NULL),
    "private_visibility": bool,
    "reporter": PERSON,
    "shortened_url": NULL,
    "url": str,
    "html_url": str,
    "comment_url": str,
    "flag_url": str,
    "request_type": REQUEST_TYPE,
    "transitions": TRANSITIONS,
    "media": MEDIA,
}
LIST_ISSUE = Shape(ISSUE_KEYS, absent=("comments_url",))
PLAIN_ISSUE = Shape(
    {**ISSUE_KEYS, "show_blocked_issue_text": bool},
    absent=("comment_count", "vote_count", "assignee", "integrations", "comments_url"),
)
PAGINATION = Shape(
    {
        "entries": int,
        "page": int,
        "per_page": int,
        "pages": int,
        "next_page": (int, NULL),
        "next_page_url": (str, NULL),
        "previous_page": (int, NULL),
        "previous_page_url": (str, NULL),
    }
)


def listing(key: str, item: Shape) -> Shape:
    return Shape({"errors": dict, "metadata": Shape({"pagination": PAGINATION}), key: [item]})


COMMENT = Shape(
    {
        "comment": str,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "editable_until": TIMESTAMP,
        "last_edited_at": (TIMESTAMP, NULL),
        "show_blocked_comment_text": bool,
        "commenter": PERSON,
        "media": Shape({"image_full": (str, NULL), "video_url": (str, NULL)}),
        "issue_url": str,
        "flag_url": str,
    },
    absent=("id", "issue"),
)
QUESTION_TYPES = {
    "text",
    "textarea",
    "select",
    "multivaluelist",
    "datetime",
    "number",
    "file",
    "note",
}
QUESTION = Shape(
    {
        "primary_key": str,
        "question": str,
        "question_type": str,
        "answer_kept_private": bool,
        "response_type": str,
    }
)
NOTICE = Shape(
    {
        "id": int,
        "sender": str,
        "subject": str,
        "published_at": TIMESTAMP,
        "last_edited_at": (TIMESTAMP, NULL),
        "organization_logo_url": (str, NULL),
        "html_url": str,
    }
)


def test_the_checker_catches_missing_forbidden_and_mistyped_keys():
    with pytest.raises(AssertionError, match="missing"):
        check(Shape({"id": int, "name": str}), {"id": 1})
    with pytest.raises(AssertionError, match="does not send"):
        check(Shape({}, absent=("comment_count",)), {"comment_count": 2})
    with pytest.raises(AssertionError):
        check(Shape({"id": int}), {"id": "1"})
    with pytest.raises(AssertionError):
        check(Shape({"at": TIMESTAMP}), {"at": "2024-01-01T00:00:00Z"})


def test_issue_listing(scf_emulator, http):
    body = http.get(f"{scf_emulator.api_url}/issues", params={"per_page": 100}).json()
    check(listing("issues", LIST_ISSUE), body)
    assert body["errors"] == {}
    closed = [i for i in body["issues"] if i["status"] in ("Closed", "Archived")]
    opened = [i for i in body["issues"] if i["status"] in ("Open", "Acknowledged")]
    assert closed  # both kinds of transitions are shown
    assert opened
    assert all(set(i["transitions"]) == {"open_url"} for i in closed)
    assert all(set(i["transitions"]) == {"close_url"} for i in opened)


def test_profile_issue_listing(scf_emulator, http, rita_token):
    body = http.get(f"{scf_emulator.api_url}/profile/issues", headers=bearer(rita_token)).json()
    check(listing("issues", LIST_ISSUE), body)


def test_plain_single_issue(scf_emulator, http):
    issue_id = min(scf_emulator.state.issues)
    check(PLAIN_ISSUE, http.get(f"{scf_emulator.api_url}/issues/{issue_id}").json())


def test_comments_carry_their_id_only_in_flag_url(scf_emulator, http):
    issue_id = next(i.id for i in scf_emulator.state.issues.values() if len(i.comments) > 1)
    body = http.get(f"{scf_emulator.api_url}/issues/{issue_id}/comments").json()
    check(listing("comments", COMMENT), body)
    ids = [int(COMMENT_FLAG.search(c["flag_url"]).group(1)) for c in body["comments"]]
    assert len(set(ids)) == len(ids)


def test_profile_home_place_is_an_object(scf_emulator, http):
    official = scf_emulator.user("official")
    token = scf_emulator.issue_token(official)
    body = http.get(f"{scf_emulator.api_url}/profile", headers=bearer(token.access_token)).json()
    check(Shape({"home_place": Shape({"id": int, "name": str, "url_name": str})}), body)


def test_new_issue_options_end_with_other(scf_emulator, http):
    place = scf_emulator.state.places["new-haven"]
    lat, lng = place.center
    body = http.get(f"{scf_emulator.api_url}/issues/new", params={"lat": lat, "lng": lng}).json()
    other = body["request_types"][-1]
    assert other["title"] == "Other"
    assert other["url"].endswith("/request_types/other")
    assert len(body["request_types"]) > 1


def test_other_request_type(scf_emulator, http):
    response = http.get(f"{scf_emulator.api_url}/request_types/other")
    assert response.status_code == 200
    body = response.json()
    check(Shape({"id": NULL, "title": str, "questions": [QUESTION]}), body)
    assert [q["primary_key"] for q in body["questions"]] == [
        "summary",
        "description",
        "issue_image",
    ]


def test_request_type_questions(scf_emulator, http):
    type_id = next(r.id for r in scf_emulator.state.request_types.values() if r.questions)
    body = http.get(f"{scf_emulator.api_url}/request_types/{type_id}").json()
    check(Shape({"id": int, "questions": [QUESTION]}), body)
    assert {q["question_type"] for q in body["questions"]} <= QUESTION_TYPES


def test_notices_of_a_signed_in_user(scf_emulator, http, rita_token):
    url = f"{scf_emulator.api_url}/profile/notices"
    check(listing("notices", NOTICE), http.get(url, headers=bearer(rita_token)).json())
    assert http.get(url).status_code == 401


def test_sparse_fieldsets_are_honoured(scf_emulator, http):
    wanted = {"fields[issue]": "id,status,summary"}
    body = http.get(f"{scf_emulator.api_url}/issues", params=wanted).json()
    assert body["issues"]
    assert all(set(issue) == {"id", "status", "summary"} for issue in body["issues"])
    issue_id = body["issues"][0]["id"]
    single = http.get(f"{scf_emulator.api_url}/issues/{issue_id}", params=wanted).json()
    assert set(single) == {"id", "status", "summary"}


def test_organisation_issues_for_members_only(scf_emulator, http, rita_token):
    place = scf_emulator.state.places["new-haven"]
    url = f"{scf_emulator.api_url}/organizations/{place.id}/issues"
    official = scf_emulator.issue_token(scf_emulator.user("official")).access_token
    body = http.get(url, headers=bearer(official)).json()
    check(listing("issues", LIST_ISSUE), body)
    assert all(place.contains(i["lat"], i["lng"]) for i in body["issues"])
    assert http.get(url, headers=bearer(rita_token)).status_code == 403
    assert http.get(url).status_code == 401
    unknown = f"{scf_emulator.api_url}/organizations/999999/issues"
    assert http.get(unknown, headers=bearer(official)).status_code == 404


def test_an_anonymous_report_lists_the_placeholder_reporter(scf_emulator, http, rita_token):
    issue = scf_emulator.add_issue("resident", summary="Quiet report", anonymous=True)
    body = http.get(f"{scf_emulator.api_url}/profile/issues", headers=bearer(rita_token)).json()
    check(listing("issues", LIST_ISSUE), body)
    [listed] = [i for i in body["issues"] if i["id"] == issue.id]
    assert listed["reporter"]["id"] == 0
    assert listed["reporter"]["html_url"].endswith("/users/anonymous")
