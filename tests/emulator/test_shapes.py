"""With the ``sample_shapes`` switch, every documented sample's keys and value types match what
the emulator returns (the real service's shapes, its default, are in test_real_shapes.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import bearer

# Copies of the documentation's sample bodies (reference/samples), mistakes included.
SAMPLES = Path(__file__).with_name("samples")
EASTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[45]:00$")


@pytest.fixture(autouse=True)
def sample_shapes(scf_emulator):
    scf_emulator.set_quirks(sample_shapes=True)


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def assert_same_shape(expected: Any, actual: Any, where: str = "$") -> None:
    """Every key of ``expected`` is in ``actual`` with a value of the same JSON type.

    ``null`` (and the samples' string ``"null"``) on either side is a nullable field; ``rating``
    is an integer in real responses where the docs show a string (documented quirk).
    """
    if expected is None or expected == "null" or actual is None:
        return
    if where.endswith(".rating"):
        assert isinstance(actual, int), f"{where}: rating should be an integer, got {actual!r}"
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        missing = sorted(set(expected) - set(actual))
        assert not missing, f"{where}: keys missing from the emulator's answer: {missing}"
        for key, value in expected.items():
            assert_same_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected an array, got {actual!r}"
        assert actual or not expected, f"{where}: the emulator's array is empty"
        if expected and actual:
            assert_same_shape(expected[0], actual[0], f"{where}[0]")
    elif isinstance(expected, bool):
        assert isinstance(actual, bool), f"{where}: expected a boolean, got {actual!r}"
    elif isinstance(expected, int | float):
        wanted = int if isinstance(expected, int) else int | float
        kind = "an integer" if isinstance(expected, int) else "a number"
        ok = isinstance(actual, wanted) and not isinstance(actual, bool)
        assert ok, f"{where}: expected {kind}, got {actual!r}"
    else:
        assert type(actual) is type(expected), f"{where}: {type(actual)} vs {type(expected)}"


def test_the_comparison_catches_a_missing_key_and_a_wrong_type():
    with pytest.raises(AssertionError, match="missing"):
        assert_same_shape({"id": 1, "name": "x"}, {"id": 1})
    with pytest.raises(AssertionError, match="integer"):
        assert_same_shape({"id": 1}, {"id": "1"})


def test_profile_signed_in(scf_emulator, http, rita_token):
    body = http.get(f"{scf_emulator.api_url}/profile", headers=bearer(rita_token)).json()
    assert_same_shape(sample("profile_logged_in.json"), body)
    assert body["id"] == scf_emulator.user("resident").id
    assert body["reported_issue_count"] == 30
    assert EASTERN.match(body["created_at"])


def test_profile_anonymous_is_a_null_id(scf_emulator, http):
    response = http.get(f"{scf_emulator.api_url}/profile")
    assert response.status_code == 200
    assert response.json() == sample("profile_not_logged_in.json") == {"id": None}


def test_issue_list(scf_emulator, http):
    body = http.get(f"{scf_emulator.api_url}/issues").json()
    assert_same_shape(sample("issues_list.json"), body)
    assert body["errors"] is None
    first = body["issues"][0]
    assert isinstance(first["rating"], int)
    assert EASTERN.match(first["created_at"])
    assert EASTERN.match(first["updated_at"])
    assert isinstance(first["reporter"]["id"], int)


def test_issue_details_with_every_optional_part(scf_emulator, http, rita_token):
    issue_id = min(i.id for i in scf_emulator.state.issues.values())
    body = http.get(
        f"{scf_emulator.api_url}/issues/{issue_id}",
        params={"details": "true"},
        headers=bearer(rita_token),
    ).json()
    expected = sample("issue_details.json")
    assert_same_shape(expected, body)
    # the fields the comparison may skip as nullable are really filled on this issue
    for key in ("assignee", "integrations", "comments", "votes"):
        assert body[key], key
    assert body["media"]["image_full"].startswith(scf_emulator.url)
    assert set(body["current_user_relationship"]) == set(expected["current_user_relationship"])


def test_issue_without_details_has_no_detail_keys(scf_emulator, http):
    issue_id = min(scf_emulator.state.issues)
    body = http.get(f"{scf_emulator.api_url}/issues/{issue_id}").json()
    assert "comments" not in body
    assert "current_user_relationship" not in body
    assert body["comment_url"].endswith(f"/issues/{issue_id}/comments")


def test_comments_list(scf_emulator, http):
    issue_id = min(scf_emulator.state.issues)
    body = http.get(f"{scf_emulator.api_url}/issues/{issue_id}/comments").json()
    assert_same_shape(sample("comments_list.json"), body)
    assert all("id" not in comment for comment in body["comments"])  # as documented
    assert all(c["flag_url"].endswith("/comments/flag") for c in body["comments"])
    times = [c["created_at"] for c in body["comments"]]
    assert times == sorted(times)


def test_comment_created(scf_emulator, http, rita_token):
    issue_id = min(scf_emulator.state.issues)
    response = http.post(
        f"{scf_emulator.api_url}/issues/{issue_id}/comments",
        data={"comment": "Pothole getting larger every day"},
        headers=bearer(rita_token),
    )
    assert response.status_code == 201
    assert_same_shape(sample("comment_created.json"), response.json())
    assert response.json()["moderated"] is False


def test_places_list(scf_emulator, http):
    body = http.get(f"{scf_emulator.api_url}/places", params={"search": "new haven"}).json()
    assert_same_shape(sample("places_list.json"), body)
    assert body["places"][0]["url_name"] == "new-haven"


def test_quirks_switch_to_the_documented_variants(scf_emulator, http):
    scf_emulator.set_quirks(
        string_null_pagination=True,
        rating_as_string=True,
        utc_timestamps=True,
        doubled_api_prefix=True,
        sample_shapes=True,
    )
    body = http.get(f"{scf_emulator.api_url}/issues", params={"per_page": 5}).json()
    pagination = body["metadata"]["pagination"]
    assert pagination["previous_page"] == "null"
    assert pagination["previous_page_url"] == "null"
    assert "/api/api/v2/issues?" in pagination["next_page_url"]
    issue = body["issues"][0]
    assert isinstance(issue["rating"], str)
    assert issue["created_at"].endswith("Z")
