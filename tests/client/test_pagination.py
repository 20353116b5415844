"""Paging: endings, page size, no page twice, incremental walks and conditional requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from django_seeclickfix.client import BearerAuth, MemoryEtagStore, SeeClickFixClient, Unlimited
from django_seeclickfix.exceptions import TransientError

from .conftest import API, BASE, issue_json, issues_page


def query(call):
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def serve(rsps, path, pages):
    """Answer successive GETs of ``path`` with ``pages`` (status, body, headers) in order."""
    remaining = list(pages)

    def reply(request):
        status, body, headers = remaining.pop(0)
        return status, headers, json.dumps(body) if body is not None else ""

    rsps.add_callback("GET", f"{API}{path}", callback=reply)


@pytest.mark.parametrize("last", [None, "null", "", 0])
def test_walk_stops_on_every_spelling_of_no_next_page(rsps, client, last):
    serve(
        rsps,
        "/issues",
        [
            (200, issues_page([issue_json(1)], page=1, next_page=2), {}),
            (200, issues_page([issue_json(2)], page=2, next_page=last), {}),
        ],
    )
    assert [i.id for i in client.iter_issues(status="open")] == [1, 2]
    assert [query(c)["page"] for c in rsps.calls] == ["1", "2"]
    assert all(query(c)["per_page"] == "100" for c in rsps.calls)
    assert query(rsps.calls[0])["status"] == "open"


def test_walk_stops_without_metadata_and_on_empty_pages(rsps, client):
    serve(rsps, "/issues", [(200, {"issues": [issue_json(1)]}, {})])
    assert [i.id for i in client.iter_issues()] == [1]
    serve(
        rsps,
        "/issues/1/comments",
        [(200, {"comments": [], "metadata": {"pagination": {"page": 1, "next_page": 2}}}, {})],
    )
    assert client.list_comments(1) == []


def test_walk_stops_at_the_last_page_even_if_next_page_is_set(rsps, client):
    body = issues_page([issue_json(1)], page=3, next_page=4)
    body["metadata"]["pagination"]["pages"] = 3
    serve(rsps, "/issues", [(200, body, {})])
    assert [i.id for i in client.iter_issues(page=3)] == [1]
    assert len(rsps.calls) == 1


def test_the_same_page_is_never_requested_twice(rsps, client):
    serve(
        rsps,
        "/issues",
        [
            (200, issues_page([issue_json(1)], page=1, next_page=2), {}),
            (200, issues_page([issue_json(2)], page=2, next_page=1), {}),
        ],
    )
    with pytest.raises(TransientError, match="back to page 1"):
        list(client.iter_issues())
    assert len(rsps.calls) == 2


def test_real_page_size_is_read_back_and_details_cap_at_20(rsps, client):
    serve(rsps, "/issues", [(200, issues_page([issue_json(1)], per_page=20), {})])
    [page] = client.issue_pages(details=True, request_types=[3, 4])
    assert page.per_page == 20
    sent = query(rsps.calls[0])
    assert (sent["per_page"], sent["details"], sent["request_types"]) == ("20", "true", "3,4")


def test_pages_are_fetched_lazily_one_at_a_time(rsps, client):
    serve(
        rsps,
        "/issues",
        [
            (200, issues_page([issue_json(1)], page=1, next_page=2), {}),
            (200, issues_page([issue_json(2)], page=2), {}),
        ],
    )
    pages = client.issue_pages()
    assert len(rsps.calls) == 0
    first = next(pages)
    assert (first.number, first.has_next, len(rsps.calls)) == (1, True, 1)
    second = next(pages)
    assert (second.number, second.has_next, len(rsps.calls)) == (2, False, 2)


def test_entries_without_an_id_are_skipped(rsps, client, caplog):
    serve(rsps, "/issues", [(200, issues_page([issue_json(1), {"summary": "no id"}]), {})])
    assert [i.id for i in client.iter_issues()] == [1]
    assert "without an id" in caplog.text


def test_a_body_without_the_resource_list_is_transient(rsps, client):
    serve(rsps, "/issues", [(200, {"result": []}, {})])
    with pytest.raises(TransientError, match="no 'issues' list"):
        list(client.iter_issues())


# incremental --------------------------------------------------------------------------------

EASTERN = timezone(timedelta(hours=-5))


def test_my_issues_ask_for_all_statuses_by_update_time_in_utc(rsps, client):
    serve(rsps, "/profile/issues", [(200, issues_page([issue_json(1)]), {})])
    since = datetime(2024, 3, 1, 8, 30, 15, 500, tzinfo=EASTERN)
    [issue] = client.iter_my_issues(updated_after=since)
    sent = query(rsps.calls[0])
    assert sent == {
        "updated_at_after": "2024-03-01T13:30:15Z",
        "sort": "updated_at",
        "sort_direction": "ASC",
        "status": "open,acknowledged,closed,archived",
        "per_page": "100",
        "page": "1",
    }
    assert issue.updated_at.tzinfo is not None


def test_incremental_walk_moves_the_bound_and_drops_the_repeated_boundary(rsps, client):
    t1, t2, t3 = (
        "2024-01-01T10:00:00-05:00",
        "2024-01-01T11:00:00-05:00",
        "2024-01-01T12:00:00-05:00",
    )
    serve(
        rsps,
        "/profile/issues",
        [
            (200, issues_page([issue_json(1, t1), issue_json(2, t2)], next_page=2, per_page=2), {}),
            # the bound is inclusive: issue 2 comes again
            (200, issues_page([issue_json(2, t2), issue_json(3, t3)], next_page=2, per_page=2), {}),
            (200, issues_page([issue_json(3, t3)], per_page=2), {}),
        ],
    )
    pages = list(client.my_issue_pages(per_page=2))
    assert [[i.id for i in p.items] for p in pages] == [[1, 2], [3], []]
    bounds = [query(c).get("updated_at_after") for c in rsps.calls]
    assert bounds == [None, "2024-01-01T16:00:00Z", "2024-01-01T17:00:00Z"]
    assert all(query(c)["page"] == "1" for c in rsps.calls)
    assert pages[1].high_water == datetime(2024, 1, 1, 17, tzinfo=UTC)


def test_an_issue_changing_mid_walk_is_not_skipped(rsps, client):
    # Issue 2 changes after page 1 was read; with offsets, issue 3 would shift into page 1's
    # slot and be missed. The update-time walk asks "after 2's time" instead.
    t = [f"2024-01-01T1{h}:00:00Z" for h in range(5)]
    serve(
        rsps,
        "/profile/issues",
        [
            (200, issues_page([issue_json(1, t[0]), issue_json(2, t[1])], next_page=2), {}),
            (200, issues_page([issue_json(3, t[2]), issue_json(4, t[3]), issue_json(2, t[4])]), {}),
        ],
    )
    seen = [i.id for i in client.iter_my_issues()]
    assert seen == [1, 2, 3, 4, 2]


def test_a_page_within_one_second_reads_that_second_under_a_closed_range(rsps, client):
    same = "2024-01-01T10:00:00Z"
    first_two = [issue_json(1, same), issue_json(2, same)]

    def of_three(body):
        body["metadata"]["pagination"]["entries"] = 3
        return body

    serve(
        rsps,
        "/profile/issues",
        [
            (200, of_three(issues_page(first_two, next_page=2, per_page=2)), {}),
            (200, of_three(issues_page(first_two, next_page=2, per_page=2)), {}),
            (200, of_three(issues_page([issue_json(3, same)], page=2, per_page=2)), {}),
            (200, issues_page([], per_page=2), {}),
        ],
    )
    since = datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert [i.id for i in client.iter_my_issues(since)] == [1, 2, 3]
    assert [
        (query(c)["updated_at_after"], query(c).get("updated_at_before"), query(c)["page"])
        for c in rsps.calls
    ] == [
        ("2024-01-01T10:00:00Z", None, "1"),
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:01Z", "1"),
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:01Z", "2"),
        ("2024-01-01T10:00:01Z", None, "1"),
    ]


def test_issues_filtered_by_update_time_use_the_same_walk(rsps, client):
    serve(rsps, "/issues", [(200, issues_page([issue_json(1)]), {})])
    list(client.iter_issues(updated_after=datetime(2024, 1, 1, tzinfo=UTC), place_url="nh"))
    sent = query(rsps.calls[0])
    assert (sent["sort"], sent["place_url"], sent["updated_at_after"]) == (
        "updated_at",
        "nh",
        "2024-01-01T00:00:00Z",
    )


def test_naive_datetimes_are_refused(client):
    with pytest.raises(ValueError, match="timezone-aware"):
        list(client.iter_my_issues(datetime(2024, 1, 1)))


# conditional requests ---------------------------------------------------------------------


def test_unchanged_listing_costs_one_request_and_says_not_modified(rsps):
    store = MemoryEtagStore()
    scf = SeeClickFixClient(BASE, BearerAuth("tok-a"), budget=Unlimited(), etag_store=store)
    since = datetime(2024, 1, 1, tzinfo=UTC)
    seen_headers = []

    def reply(request):
        seen_headers.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"'}, ""
        return 200, {"ETag": '"v1"'}, json.dumps(issues_page([issue_json(1)]))

    rsps.add_callback("GET", f"{API}/profile/issues", callback=reply)
    first = list(scf.my_issue_pages(since, conditional=True))
    assert [p.not_modified for p in first] == [False]
    second = list(scf.my_issue_pages(since, conditional=True))
    assert len(second) == 1
    assert second[0].not_modified is True
    assert second[0].items == ()
    assert seen_headers == [None, '"v1"']
    # Another user (another token) never gets this user's ETag.
    other = SeeClickFixClient(BASE, BearerAuth("tok-b"), budget=Unlimited(), etag_store=store)
    list(other.my_issue_pages(since, conditional=True))
    assert seen_headers[-1] is None
    assert not any("tok-a" in key for key in store._data)


def test_ad_hoc_listings_answer_with_data_after_a_conditional_walk(rsps):
    # The README's "Acting as a user": a view lists the user's issues on every reload, while
    # the background sync (conditional) has walked the same listing with the same identity.
    store = MemoryEtagStore()
    sync_client = SeeClickFixClient(BASE, BearerAuth("tok"), budget=Unlimited(), etag_store=store)
    view_client = SeeClickFixClient(BASE, BearerAuth("tok"), budget=Unlimited(), etag_store=store)
    seen_headers = []

    def reply(request):
        seen_headers.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return 304, {"ETag": '"v1"'}, ""
        return 200, {"ETag": '"v1"'}, json.dumps(issues_page([issue_json(1), issue_json(2)]))

    rsps.add_callback("GET", f"{API}/profile/issues", callback=reply)
    rsps.add_callback("GET", f"{API}/issues", callback=reply)
    list(sync_client.my_issue_pages(conditional=True))
    list(sync_client.issue_pages(conditional=True, status=["open"]))
    for _reload in range(2):
        assert [issue.id for issue in view_client.iter_my_issues()] == [1, 2]
        assert [issue.id for issue in view_client.iter_issues(status=["open"])] == [1, 2]
    assert seen_headers[2:] == [None, None, None, None]
    # The conditional caller still gets its cheap "nothing new".
    [page] = sync_client.my_issue_pages(conditional=True)
    assert page.not_modified


def test_etag_is_remembered_only_after_the_walk_was_consumed(rsps):
    store = MemoryEtagStore()
    scf = SeeClickFixClient(BASE, BearerAuth("tok"), budget=Unlimited(), etag_store=store)
    two_pages = [
        (
            200,
            issues_page([issue_json(1, "2024-01-01T10:00:00Z")], next_page=2),
            {"ETag": '"a"'},
        ),
        (200, issues_page([issue_json(2, "2024-01-01T11:00:00Z")]), {"ETag": '"b"'}),
    ]
    serve(rsps, "/profile/issues", two_pages)
    pages = scf.my_issue_pages(conditional=True)
    next(pages)  # the consumer fails before finishing
    pages.close()
    assert store._data == {}
    serve(rsps, "/profile/issues", two_pages)
    list(scf.my_issue_pages(conditional=True))
    assert list(store._data.values()) == ['"a"']  # the first request's, the only conditional one


def test_etags_survive_token_refresh_when_the_source_names_itself(rsps):
    from django_seeclickfix.client import TokenSourceAuth

    class Source:
        identity = "account:3"
        token = "t1"

        def get_token(self):
            return self.token

        def token_rejected(self, token, *, final):
            return None

    source = Source()
    store = MemoryEtagStore()
    scf = SeeClickFixClient(BASE, TokenSourceAuth(source), budget=Unlimited(), etag_store=store)
    serve(rsps, "/profile/issues", [(200, issues_page([]), {"ETag": '"x"'}), (304, None, {})])
    list(scf.my_issue_pages(conditional=True))
    source.token = "t2"
    [page] = scf.my_issue_pages(conditional=True)
    assert page.not_modified


def _peak_while_iterating(rsps, pages, same_second=False):
    import gc
    import tracemalloc

    # Bodies are made before tracing starts: only what the client allocates is measured.
    bodies = []
    for served in range(pages):
        stamp = "2024-01-01T00:00:00Z" if same_second else f"2024-01-01T00:{served:02d}:00Z"
        issues = [issue_json(1000 * served + i, stamp, description="x" * 200) for i in range(100)]
        more = served + 1 < pages
        if same_second:  # one listing of pages * 100 issues, all updated in one second
            page = issues_page(issues, served + 1, served + 2 if more else None)
            page["metadata"]["pagination"].update(entries=100 * pages, pages=pages)
        else:  # each page is page 1 of what is newer than the previous page
            page = issues_page(issues, 1, 2 if more else None)
        bodies.append(json.dumps(page))
    after_the_second = json.dumps(issues_page([]))
    served_bodies = iter(bodies)

    def reply(request):
        # responses keeps every response it served (globally and per registration); the
        # client must not, and that is what is measured.
        rsps.calls.reset()
        for registered in rsps.registered():
            registered.calls.reset()
        if not same_second:
            return 200, {}, next(served_bodies)
        query = dict(parse_qsl(urlsplit(request.url).query))
        if query.get("updated_at_after", "") > "2024-01-01T00:00:00Z":
            return 200, {}, after_the_second
        return 200, {}, bodies[int(query.get("page", 1)) - 1]

    rsps.add_callback("GET", f"{API}/profile/issues", callback=reply)
    scf = SeeClickFixClient(BASE, BearerAuth("t"), budget=Unlimited(), etag_store=MemoryEtagStore())
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        seen = sum(1 for _ in scf.iter_my_issues())
        return seen, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
        rsps.remove("GET", f"{API}/profile/issues")


@pytest.mark.parametrize("same_second", [False, True], ids=["spread", "one-second"])
def test_memory_does_not_grow_with_the_number_of_pages(rsps, same_second):
    few_seen, few = _peak_while_iterating(rsps, 2, same_second)
    many_seen, many = _peak_while_iterating(rsps, 40, same_second)
    assert (few_seen, many_seen) == (200, 4000)
    assert many / few < 1.5, (few, many)


def test_plain_listings_are_conditional_on_request(rsps, client):
    serve(rsps, "/issues", [(200, issues_page([issue_json(1)]), {"ETag": '"p"'}), (304, None, {})])
    assert [p.items[0].id for p in client.issue_pages(status="open", conditional=True)] == [1]
    [page] = client.issue_pages(status="open", conditional=True)
    assert page.not_modified
    assert rsps.calls[1].request.headers["If-None-Match"] == '"p"'
