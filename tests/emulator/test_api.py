"""API v2: filters, sorting, pagination, conditional requests, writes, and the User-Agent rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_seeclickfix.testing.emulator.state import distance_km

from .conftest import bearer

EVERY_STATUS = "open,acknowledged,closed,archived"


def get(http, emulator, path: str, token: str | None = None, **params):
    headers = bearer(token) if token else {}
    return http.get(f"{emulator.api_url}{path}", params=params, headers=headers)


def all_pages(http, emulator, path: str, token: str | None = None, **params) -> list[dict]:
    issues, page = [], 1
    while page:
        body = get(http, emulator, path, token, page=page, **params).json()
        issues += body["issues"]
        page = body["metadata"]["pagination"]["next_page"]
    return issues


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# pagination --------------------------------------------------------------------------------------


def test_pagination_metadata_exactly_as_documented(scf_emulator, http):
    scf_emulator.configure(anonymous_per_page=100)
    first = get(http, scf_emulator, "/issues", per_page=100).json()["metadata"]["pagination"]
    entries = first["entries"]
    assert first["page"] == 1
    assert first["per_page"] == 100
    assert first["pages"] == -(-entries // 100)
    assert first["next_page"] == 2
    assert first["next_page_url"].startswith(f"{scf_emulator.api_url}/issues?")
    assert "page=2" in first["next_page_url"]
    assert first["previous_page"] is None
    assert first["previous_page_url"] is None
    last = get(http, scf_emulator, "/issues", per_page=100, page=first["pages"]).json()
    meta = last["metadata"]["pagination"]
    assert meta["next_page"] is None
    assert meta["next_page_url"] is None
    assert meta["previous_page"] == first["pages"] - 1
    assert len(last["issues"]) == entries - 100 * (first["pages"] - 1)


def test_per_page_is_capped_and_read_back(scf_emulator, http):
    anonymous = get(http, scf_emulator, "/issues", per_page=100).json()["metadata"]["pagination"]
    assert anonymous["per_page"] == 20
    scf_emulator.configure(anonymous_per_page=100)
    meta = get(http, scf_emulator, "/issues", per_page=500).json()["metadata"]["pagination"]
    assert meta["per_page"] == 100
    details = get(http, scf_emulator, "/issues", per_page=100, details="true").json()
    assert details["metadata"]["pagination"]["per_page"] == 20
    assert len(details["issues"]) == 20
    assert "current_user_relationship" in details["issues"][0]
    default = get(http, scf_emulator, "/issues", per_page="junk").json()
    assert default["metadata"]["pagination"]["per_page"] == 20


def test_string_null_pagination_switch(scf_emulator, http):
    scf_emulator.set_quirks(string_null_pagination=True)
    meta = get(
        http, scf_emulator, "/profile/issues", scf_emulator.issue_token("newcomer").access_token
    )
    pagination = meta.json()["metadata"]["pagination"]
    assert pagination["next_page"] == "null"
    assert pagination["next_page_url"] == "null"
    assert pagination["pages"] == 0
    assert pagination["entries"] == 0


def test_walking_all_pages_sees_every_issue_once(scf_emulator, http):
    issues = all_pages(http, scf_emulator, "/issues", status=EVERY_STATUS, per_page=37)
    ids = [i["id"] for i in issues]
    assert len(ids) == len(set(ids)) == len(scf_emulator.state.issues)


# filters -----------------------------------------------------------------------------------------


def test_default_status_filter_leaves_out_archived(scf_emulator, http):
    default = all_pages(http, scf_emulator, "/issues", per_page=100)
    assert {i["status"] for i in default} == {"Open", "Acknowledged", "Closed"}
    archived = all_pages(http, scf_emulator, "/issues", per_page=100, status="archived")
    assert archived
    assert {i["status"] for i in archived} == {"Archived"}


@pytest.mark.parametrize("field", ["created_at", "updated_at", "rating"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_sorting(scf_emulator, http, field, direction):
    issues = get(
        http, scf_emulator, "/issues", sort=field, sort_direction=direction, per_page=100
    ).json()["issues"]
    key = (lambda i: i[field]) if field == "rating" else (lambda i: utc(i[field]))
    values = [key(i) for i in issues]
    assert values == sorted(values, reverse=direction == "DESC")


def test_default_order_is_newest_first(scf_emulator, http):
    issues = get(http, scf_emulator, "/issues").json()["issues"]
    created = [utc(i["created_at"]) for i in issues]
    assert created == sorted(created, reverse=True)


def test_updated_at_bounds_are_inclusive_after_and_exclusive_before(scf_emulator, http):
    issue = scf_emulator.issue(min(scf_emulator.state.issues))
    mark = issue.updated_at.replace(microsecond=0)
    stamp = mark.strftime("%Y-%m-%dT%H:%M:%SZ")
    after = all_pages(
        http, scf_emulator, "/issues", status=EVERY_STATUS, updated_at_after=stamp, per_page=100
    )
    assert issue.id in {i["id"] for i in after}
    assert all(utc(i["updated_at"]) >= mark for i in after)
    before = all_pages(
        http, scf_emulator, "/issues", status=EVERY_STATUS, updated_at_before=stamp, per_page=100
    )
    assert issue.id not in {i["id"] for i in before}
    assert all(utc(i["updated_at"]) < mark for i in before)
    assert len(after) + len(before) == len(scf_emulator.state.issues)


def test_after_and_before_filter_on_creation_time(scf_emulator, http):
    issues = all_pages(
        http,
        scf_emulator,
        "/issues",
        status=EVERY_STATUS,
        per_page=100,
        after="2020-01-01T00:00:00Z",
        before="2021-01-01T00:00:00Z",
    )
    assert issues
    for issue in issues:
        assert (
            datetime(2020, 1, 1, tzinfo=UTC)
            <= utc(issue["created_at"])
            < datetime(2021, 1, 1, tzinfo=UTC)
        )


def test_a_bad_time_filter_is_a_422(scf_emulator, http):
    response = get(http, scf_emulator, "/issues", updated_at_after="yesterday")
    assert response.status_code == 422
    assert "updated_at_after" in response.json()["errors"]


def test_place_url_and_bounding_box(scf_emulator, http):
    place = scf_emulator.state.places["hartford"]
    in_hartford = all_pages(
        http, scf_emulator, "/issues", place_url="hartford", per_page=100, status=EVERY_STATUS
    )
    assert in_hartford
    assert all(place.contains(i["lat"], i["lng"]) for i in in_hartford)
    min_lat, min_lng, max_lat, max_lng = place.bbox
    boxed = all_pages(
        http,
        scf_emulator,
        "/issues",
        per_page=100,
        status=EVERY_STATUS,
        min_lat=min_lat,
        min_lng=min_lng,
        max_lat=max_lat,
        max_lng=max_lng,
    )
    assert {i["id"] for i in boxed} == {i["id"] for i in in_hartford}
    assert get(http, scf_emulator, "/issues", place_url="atlantis").json()["issues"] == []


def test_near_a_point_sorted_by_distance(scf_emulator, http):
    center = scf_emulator.state.places["new-haven"].center
    issues = get(
        http,
        scf_emulator,
        "/issues",
        lat=center[0],
        lng=center[1],
        zoom=14,
        sort="distance",
        sort_direction="ASC",
        per_page=100,
    ).json()["issues"]
    assert issues
    distances = [distance_km(center[0], center[1], i["lat"], i["lng"]) for i in issues]
    assert distances == sorted(distances)
    assert not any(
        scf_emulator.state.places["hartford"].contains(i["lat"], i["lng"]) for i in issues
    )


def test_search_request_types_and_assignment(scf_emulator, http):
    found = all_pages(http, scf_emulator, "/issues", search="streetlight", per_page=100)
    assert found
    assert all("streetlight" in (i["summary"] + i["description"]).lower() for i in found)
    potholes = all_pages(http, scf_emulator, "/issues", request_types="121", per_page=100)
    assert potholes
    assert {i["summary"] for i in potholes} == {"Pothole"}
    official = scf_emulator.user("official")
    token = scf_emulator.issue_token(official).access_token
    mine = all_pages(http, scf_emulator, "/issues", token, assigned_to_me="true", per_page=100)
    by_id = all_pages(http, scf_emulator, "/issues", assigned=str(official.id), per_page=100)
    assert mine
    assert {i["id"] for i in mine} == {i["id"] for i in by_id}
    unassigned = all_pages(http, scf_emulator, "/issues", assigned="unassigned", per_page=100)
    assert not {i["id"] for i in unassigned} & {i["id"] for i in mine}


def test_profile_issues_are_the_current_users_with_the_same_filters(scf_emulator, http, rita_token):
    rita = scf_emulator.user("resident")
    issues = all_pages(
        http,
        scf_emulator,
        "/profile/issues",
        rita_token,
        status=EVERY_STATUS,
        sort="updated_at",
        sort_direction="ASC",
        per_page=7,
    )
    assert len(issues) == 30
    assert {i["reporter"]["id"] for i in issues} == {rita.id}
    times = [utc(i["updated_at"]) for i in issues]
    assert times == sorted(times)
    assert get(http, scf_emulator, "/profile/issues").status_code == 401


def test_public_issues_carry_the_reporter_id(scf_emulator, http):
    issues = get(http, scf_emulator, "/issues", per_page=100).json()["issues"]
    owners = {scf_emulator.state.issues[i["id"]].reporter_id for i in issues}
    assert {i["reporter"]["id"] for i in issues} == owners


# changes made "on SeeClickFix" -------------------------------------------------------------------


def test_update_issue_moves_updated_at_and_shows_up_in_an_incremental_sync(scf_emulator, http):
    rita = scf_emulator.user("resident")
    token = scf_emulator.issue_token(rita).access_token
    high_water = max(i.updated_at for i in scf_emulator.state.issues_by_reporter[rita.id])
    mark = high_water.strftime("%Y-%m-%dT%H:%M:%SZ")

    def incremental_sync() -> list[dict]:
        return all_pages(
            http,
            scf_emulator,
            "/profile/issues",
            token,
            status=EVERY_STATUS,
            updated_at_after=mark,
            sort="updated_at",
            sort_direction="ASC",
        )

    before = incremental_sync()
    target = min(scf_emulator.state.issues_by_reporter[rita.id], key=lambda i: i.updated_at).id
    assert target not in {i["id"] for i in before}
    scf_emulator.update_issue(target, status="closed", summary="Fixed pothole")
    after = incremental_sync()
    assert len(after) == len(before) + 1
    changed = after[-1]
    assert changed["id"] == target
    assert changed["status"] == "Closed"
    assert changed["summary"] == "Fixed pothole"
    assert changed["closed_at"] is not None
    assert utc(changed["updated_at"]) > high_water


def test_added_and_deleted_issues(scf_emulator, http):
    issue = scf_emulator.add_issue("newcomer", summary="Fallen tree", status="acknowledged")
    body = get(http, scf_emulator, f"/issues/{issue.id}").json()
    assert body["summary"] == "Fallen tree"
    assert body["acknowledged_at"] is not None
    scf_emulator.delete_issue(issue.id)
    assert get(http, scf_emulator, f"/issues/{issue.id}").status_code == 404
    with pytest.raises(ValueError, match="reporter"):
        scf_emulator.update_issue(min(scf_emulator.state.issues), reporter="newcomer")
    with pytest.raises(ValueError, match="no field"):
        scf_emulator.update_issue(min(scf_emulator.state.issues), colour="red")


def test_generated_volumes(scf_emulator, http):
    user = scf_emulator.generate_users(3)[0]
    issues = scf_emulator.generate_issues(user, 250)
    assert len({i.id for i in issues}) == 250
    token = scf_emulator.issue_token(user).access_token
    meta = get(http, scf_emulator, "/profile/issues", token, status=EVERY_STATUS, per_page=100)
    assert meta.json()["metadata"]["pagination"]["entries"] == 250
    assert get(http, scf_emulator, "/profile", token).json()["reported_issue_count"] == 250


def test_seeds_are_deterministic(scf_emulator):
    def snapshot():
        return [
            (i.id, i.summary, i.status, i.created_at, i.updated_at, i.reporter_id, len(i.comments))
            for i in scf_emulator.state.issues.values()
        ]

    first = snapshot()
    scf_emulator.reset()
    assert snapshot() == first
    created = [i.created_at for i in scf_emulator.state.issues.values()]
    assert max(created) - min(created) > timedelta(days=5 * 365)
    scf_emulator.reset(seed="empty")
    assert not scf_emulator.state.issues
    assert scf_emulator.state.places


# conditional requests ----------------------------------------------------------------------------


def test_etag_and_304(scf_emulator, http, rita_token):
    first = get(http, scf_emulator, "/profile/issues", rita_token)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    again = http.get(
        f"{scf_emulator.api_url}/profile/issues",
        headers={**bearer(rita_token), "If-None-Match": etag},
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    target = scf_emulator.state.issues_by_reporter[scf_emulator.user("resident").id][0]
    scf_emulator.update_issue(target.id, description="changed")
    changed = http.get(
        f"{scf_emulator.api_url}/profile/issues",
        headers={**bearer(rita_token), "If-None-Match": etag},
        params={"status": EVERY_STATUS},
    )
    assert changed.status_code == 200
    assert scf_emulator.counters["api.not_modified"] == 1


def test_if_modified_since(scf_emulator, http):
    # A change in the current second is never hidden behind a 304; let the seed age first.
    scf_emulator.advance(2)
    first = get(http, scf_emulator, "/issues")
    last_modified = first.headers["Last-Modified"]
    scf_emulator.advance(2)
    same = http.get(f"{scf_emulator.api_url}/issues", headers={"If-Modified-Since": last_modified})
    assert same.status_code == 304
    scf_emulator.add_issue("newcomer")
    changed = http.get(
        f"{scf_emulator.api_url}/issues", headers={"If-Modified-Since": last_modified}
    )
    assert changed.status_code == 200


def test_304_can_be_free_of_rate_limit(scf_emulator, http):
    scf_emulator.set_rate_limit(2, 60)
    scf_emulator.configure(count_not_modified=False)
    etag = get(http, scf_emulator, "/issues").headers["ETag"]
    for _ in range(5):
        response = http.get(f"{scf_emulator.api_url}/issues", headers={"If-None-Match": etag})
        assert response.status_code == 304
    assert get(http, scf_emulator, "/issues").status_code == 200
    assert get(http, scf_emulator, "/issues").status_code == 429


# the User-Agent rule -----------------------------------------------------------------------------


def test_requests_without_a_user_agent_are_rejected(scf_emulator):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", scf_emulator.port, timeout=5)
    connection.request("GET", "/api/v2/profile", headers={})  # http.client sends no UA itself
    response = connection.getresponse()
    assert response.status == 403
    assert b"User-Agent" in response.read()
    connection.close()
    assert scf_emulator.counters["rejected.no_user_agent"] == 1


# writes ------------------------------------------------------------------------------------------


def issue_id(emulator) -> int:
    return min(emulator.state.issues)


def post(http, emulator, path: str, token: str, **data):
    return http.post(f"{emulator.api_url}{path}", data=data, headers=bearer(token))


def test_comments_201_or_202_when_moderated(scf_emulator, http, rita_token):
    target = issue_id(scf_emulator)
    before = len(get(http, scf_emulator, f"/issues/{target}/comments").json()["comments"])
    created = post(http, scf_emulator, f"/issues/{target}/comments", rita_token, comment="Hi")
    assert created.status_code == 201
    assert created.json()["comment"] == "Hi"
    scf_emulator.set_moderation(comments=True)
    held = post(http, scf_emulator, f"/issues/{target}/comments", rita_token, comment="Held")
    assert held.status_code == 202
    assert held.json() == {"metadata": {"moderated": True}}
    after = len(get(http, scf_emulator, f"/issues/{target}/comments").json()["comments"])
    assert after == before + 1  # the held one is not shown
    blank = post(http, scf_emulator, f"/issues/{target}/comments", rita_token, comment=" ")
    assert blank.status_code == 422
    json_body = http.post(
        f"{scf_emulator.api_url}/issues/{target}/comments",
        data="{not json",
        headers={**bearer(rita_token), "Content-Type": "application/json"},
    )
    assert json_body.status_code == 400
    assert json_body.json() == {"request": "Unable to parse JSON"}
    assert (
        post(http, scf_emulator, "/issues/1/comments", rita_token, comment="x").status_code == 404
    )


def test_close_open_acknowledge(scf_emulator, http, rita_token):
    rita = scf_emulator.user("resident")
    mine = next(i for i in scf_emulator.state.issues_by_reporter[rita.id] if i.status == "Open")
    ack = post(http, scf_emulator, f"/issues/{mine.id}/acknowledge", rita_token, comment="ok")
    assert ack.status_code == 403
    assert ack.json()["errors"]["base"]
    official = scf_emulator.issue_token("official").access_token
    ack = post(http, scf_emulator, f"/issues/{mine.id}/acknowledge", official, comment="On it")
    assert ack.status_code == 201
    assert ack.json()["issue"]["status"] == "Acknowledged"
    closed = post(http, scf_emulator, f"/issues/{mine.id}/close", rita_token, comment="Fixed")
    assert closed.status_code == 201
    assert get(http, scf_emulator, f"/issues/{mine.id}").json()["status"] == "Closed"
    assert post(http, scf_emulator, f"/issues/{mine.id}/open", rita_token).status_code == 422
    opened = post(http, scf_emulator, f"/issues/{mine.id}/open", rita_token, comment="Back")
    assert opened.json()["issue"]["status"] == "Open"
    stranger = scf_emulator.issue_token("newcomer").access_token
    assert (
        post(http, scf_emulator, f"/issues/{mine.id}/close", stranger, comment="x").status_code
        == 403
    )
    assert http.post(f"{scf_emulator.api_url}/issues/{mine.id}/close").status_code == 401


@pytest.mark.parametrize("what", ["follow", "vote"])
def test_follow_and_vote(scf_emulator, http, what):
    token = scf_emulator.issue_token("newcomer").access_token
    target = issue_id(scf_emulator)
    url = f"{scf_emulator.api_url}/issues/{target}/{what}"
    first = http.post(url, headers=bearer(token))
    assert first.status_code == 201
    assert first.json() == {what: 1}
    assert http.post(url, headers=bearer(token)).status_code == 422
    details = get(http, scf_emulator, f"/issues/{target}", token, details="true").json()
    key = "following" if what == "follow" else "voted"
    assert details["current_user_relationship"][key] is True
    assert http.delete(url, headers=bearer(token)).status_code == 204
    assert http.delete(url, headers=bearer(token)).status_code == 404


def test_create_issue(scf_emulator, http, rita_token):
    lat, lng = scf_emulator.state.places["new-haven"].center
    options = get(http, scf_emulator, "/issues/new", lat=lat, lng=lng).json()
    types = {t["title"]: t for t in options["request_types"]}
    assert "Pothole" in types
    assert get(http, scf_emulator, "/issues/new").status_code == 422
    pothole = get(http, scf_emulator, f"/request_types/{types['Pothole']['id']}").json()
    required = [q["primary_key"] for q in pothole["questions"] if q["response_required"]]
    assert required == ["q_depth"]
    assert get(http, scf_emulator, "/request_types/999").status_code == 404

    missing = http.post(
        f"{scf_emulator.api_url}/issues",
        json={"lat": lat, "lng": lng, "request_type_id": pothole["id"], "answers": {}},
        headers=bearer(rita_token),
    )
    assert missing.status_code == 422
    assert missing.json() == {"errors": {"q_depth": ["can't be blank"]}}
    created = http.post(
        f"{scf_emulator.api_url}/issues",
        json={
            "lat": lat,
            "lng": lng,
            "address": "1 Elm St",
            "request_type_id": pothole["id"],
            "answers": {"q_depth": "Deep"},
        },
        headers=bearer(rita_token),
    )
    assert created.status_code == 201
    body = created.json()
    assert body["summary"] == "Pothole"
    assert body["reporter"]["id"] == scf_emulator.user("resident").id
    assert created.headers["Location"].endswith(f"/issues/{body['id']}")
    form = http.post(
        f"{scf_emulator.api_url}/issues",
        data={
            "lat": lat,
            "lng": lng,
            "request_type_id": "other",
            "description": "A swing broke",
            "answers[unused]": "x",
        },
        headers=bearer(rita_token),
    )
    assert form.status_code == 201
    scf_emulator.set_moderation(issues=True)
    held = http.post(
        f"{scf_emulator.api_url}/issues",
        data={"lat": lat, "lng": lng, "request_type_id": "other", "description": "Held"},
        headers=bearer(rita_token),
    )
    assert held.status_code == 202
    assert "id" not in held.json()


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("errors_list", {"errors": {"lat": ["can't be blank"]}}),
        ("errors", {"errors": {"lat": "can't be blank"}}),
        ("flat", {"lat": "can't be blank"}),
    ],
)
def test_the_three_422_shapes(scf_emulator, http, rita_token, shape, expected):
    scf_emulator.configure(validation_error_shape=shape)
    response = http.post(
        f"{scf_emulator.api_url}/issues",
        json={"lng": -72.9, "request_type_id": "other", "description": "x"},
        headers=bearer(rita_token),
    )
    assert response.status_code == 422
    assert response.json() == expected


def test_create_issue_rejects_request_types_from_elsewhere(scf_emulator, http, rita_token):
    lat, lng = scf_emulator.state.places["new-haven"].center
    response = http.post(
        f"{scf_emulator.api_url}/issues",
        json={"lat": lat, "lng": lng, "request_type_id": 221, "answers": {"q_depth": "Deep"}},
        headers=bearer(rita_token),
    )
    assert response.json()["errors"]["request_type_id"] == ["is not offered at this location"]
    assert http.post(f"{scf_emulator.api_url}/issues", json={}).status_code == 401


# people ------------------------------------------------------------------------------------------


def test_users_and_emails(scf_emulator, http):
    official = scf_emulator.user("official")
    public = get(http, scf_emulator, f"/users/{official.id}").json()
    assert public["name"] == "Oscar Official"
    assert "email" not in public
    assert get(http, scf_emulator, "/users/1").status_code == 404
    token = scf_emulator.issue_token(official).access_token
    emails = get(http, scf_emulator, "/emails", token).json()["emails"]
    assert emails[0]["email"] == "oscar@example.com"
    assert {type(e["id"]) for e in emails} == {int}
    assert [e["confirmed"] for e in emails] == [True, True, False]
    assert get(http, scf_emulator, "/emails").status_code == 401


def test_unknown_paths_and_methods(scf_emulator, http):
    assert get(http, scf_emulator, "/nothing").status_code == 404
    assert http.put(f"{scf_emulator.api_url}/profile").status_code == 405


def test_avatar_urls_redirect_to_an_image(scf_emulator, http, rita_token):
    profile = get(http, scf_emulator, "/profile", rita_token).json()
    image = http.get(profile["avatar"]["full"])
    assert image.history[0].status_code == 302
    assert image.headers["Content-Type"] == "image/png"
    html = http.get(get(http, scf_emulator, "/issues").json()["issues"][0]["html_url"])
    assert html.status_code == 200
    assert "text/html" in html.headers["Content-Type"]
