"""Contracts of the API v2 calls the library makes: profile, listings, filters, conditional
requests, issues, comments, request types."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .listing import (
    STATUSES,
    expected_pages,
    filter_time,
    ids,
    listing,
    newest_issues,
    own_issue_id,
    profile_id,
    some_issue,
    timestamp,
)
from .registry import check, contract
from .target import Target, body, shown

PAGE_CAP = 25
ANONYMOUS_PER_PAGE = 20
MAX_PER_PAGE = 100


def _not_signed_in(response: Any) -> str | None:
    """How a server said "not signed in" (401, 403, or 200 with a null id), or None."""
    if response.status_code in (401, 403):
        return str(response.status_code)
    data = body(response)
    if response.status_code == 200 and isinstance(data, dict) and data.get("id") is None:
        return '200 {"id": null}'
    return None


# /profile ---------------------------------------------------------------------------------------


@contract(
    "profile.signed_in",
    "GET /profile with the user's credentials answers 200 with the user: an integer id and a name.",
    tags={"read"},
    needs={"user"},
)
def profile_signed_in(target: Target) -> str:
    response = target.get("/profile", signed_in=True)
    data = body(response)
    check(response.status_code == 200 and isinstance(data, dict), shown(response))
    check(isinstance(data.get("id"), int), f"id is {data.get('id')!r}")
    check("name" in data, f"no name among {sorted(data)}")
    return f"user id {data['id']}"


@contract(
    "profile.anonymous",
    'GET /profile without credentials answers 200 {"id": null} (documented) or 401, never a user.',
    tags={"read"},
)
def profile_anonymous(target: Target) -> str:
    response = target.get("/profile")
    if response.status_code == 401:
        return "401"
    data = body(response)
    check(response.status_code == 200 and isinstance(data, dict), shown(response))
    check(data.get("id") is None, f"a user answered: id {data.get('id')!r}")
    return '200 {"id": null}'


@contract(
    "profile.bad_token",
    "GET /profile with a token the server never issued is not answered as a user: 401, 403 or "
    '200 {"id": null}.',
    tags={"read"},
)
def profile_bad_token(target: Target) -> str:
    response = target.get("/profile", bearer="contract-probe-not-a-token")
    how = _not_signed_in(response)
    check(how, shown(response))
    return str(how)


@contract(
    "profile.bad_token_401",
    "A token the server never issued gets 401 with a Bearer challenge naming invalid_token.",
    tags={"read"},
    guess="A bad, expired or revoked token gets 401 with WWW-Authenticate: Bearer "
    'realm="Doorkeeper", error="invalid_token" (the emulator\'s default '
    "invalid_token_behaviour; the reference lists 401, 403 and an anonymous 200 as possible).",
)
def profile_bad_token_401(target: Target) -> str:
    response = target.get("/profile", bearer="contract-probe-not-a-token")
    challenge = response.headers.get("WWW-Authenticate", "")
    observed = f"{shown(response)}; WWW-Authenticate: {challenge or '(none)'}"
    check(response.status_code == 401 and "invalid_token" in challenge, observed)
    return observed


# listings ----------------------------------------------------------------------------------------


@contract(
    "issues.pagination",
    "GET /issues carries metadata.pagination {entries, page, per_page, pages, next_page, "
    "next_page_url, previous_page, previous_page_url}: pages = ceil(entries / per_page), "
    "page 2 follows page 1 without repeating it.",
    tags={"read"},
)
def issues_pagination(target: Target) -> str:
    first, meta = listing(target, "/issues", per_page=5)
    check(meta["page"] == 1, f"page 1 says page {meta['page']}")
    check(1 <= meta["per_page"] <= 5, f"asked 5 per page, told {meta['per_page']}")
    check(len(first) <= meta["per_page"], f"{len(first)} issues at per_page {meta['per_page']}")
    check(
        meta["pages"] == expected_pages(meta),
        f"entries {meta['entries']} at {meta['per_page']} per page, yet pages {meta['pages']}",
    )
    check(meta["previous_page"] is None, f"page 1 has previous_page {meta['previous_page']!r}")
    if meta["pages"] < 2:
        check(meta["next_page"] is None, f"a single page has next_page {meta['next_page']!r}")
        return f"one page of {meta['entries']} entries"
    check(meta["next_page"] == 2, f"page 1 has next_page {meta['next_page']!r}")
    second, meta2 = listing(target, "/issues", per_page=5, page=2)
    check(meta2["page"] == 2, f"page 2 says page {meta2['page']}")
    check(meta2["previous_page"] == 1, f"page 2 has previous_page {meta2['previous_page']!r}")
    repeated = set(ids(first)) & set(ids(second))
    check(not repeated, f"page 2 repeats issues {sorted(repeated)} of page 1")
    return f"{meta['entries']} entries, {meta['pages']} pages at {meta['per_page']} per page"


@contract(
    "issues.last_page",
    "The last page of a listing has next_page and next_page_url null and previous_page one less.",
    tags={"read"},
)
def issues_last_page(target: Target) -> str:
    newest = newest_issues(target, 3)
    bound = filter_time(timestamp(newest[-1].get("updated_at")))
    params: dict[str, Any] = {
        "sort": "updated_at",
        "sort_direction": "ASC",
        "updated_at_after": bound,
    }
    _, meta = listing(target, "/issues", per_page=1, **params)
    last = meta["pages"]
    check(1 <= last <= PAGE_CAP, f"{last} pages of issues updated since {bound}")
    items, meta = listing(target, "/issues", per_page=1, page=last, **params)
    check(items, f"page {last} of {last} is empty")
    check(meta["page"] == last, f"page {last} says page {meta['page']}")
    check(
        meta["next_page"] is None and meta["next_page_url"] is None,
        f"the last page has next_page {meta['next_page']!r}, next_page_url "
        f"{meta['next_page_url']!r}",
    )
    if last > 1:
        check(meta["previous_page"] == last - 1, f"previous_page {meta['previous_page']!r}")
    return f"page {last} of {last}: next_page null"


@contract(
    "issues.anonymous_per_page",
    "An anonymous listing is served at most 20 per page whatever per_page asks, and says so in "
    "metadata.pagination.per_page.",
    tags={"read"},
    guess="Anonymous listings get at most 20 per page (observed by live clients in 2026, not "
    "documented; the emulator's anonymous_per_page).",
)
def issues_anonymous_per_page(target: Target) -> str:
    items, meta = listing(target, "/issues", per_page=MAX_PER_PAGE)
    observed = f"asked {MAX_PER_PAGE}, per_page {meta['per_page']}, {len(items)} issues"
    check(meta["per_page"] <= ANONYMOUS_PER_PAGE and len(items) <= ANONYMOUS_PER_PAGE, observed)
    return observed


@contract(
    "issues.signed_in_per_page",
    "A signed-in listing serves per_page up to 100 (the documented maximum) and never more "
    "issues than the per_page it answers.",
    tags={"read"},
    needs={"user"},
)
def issues_signed_in_per_page(target: Target) -> str:
    items, meta = listing(target, "/issues", signed_in=True, per_page=MAX_PER_PAGE + 50)
    check(meta["per_page"] <= MAX_PER_PAGE, f"asked 150, per_page {meta['per_page']}")
    check(len(items) <= meta["per_page"], f"{len(items)} issues at per_page {meta['per_page']}")
    items, meta = listing(target, "/issues", signed_in=True, per_page=MAX_PER_PAGE)
    full = min(MAX_PER_PAGE, meta["entries"])
    check(
        meta["per_page"] == MAX_PER_PAGE and len(items) == full,
        f"asked {MAX_PER_PAGE}: per_page {meta['per_page']}, {len(items)} issues",
    )
    return f"per_page {meta['per_page']}, {len(items)} issues"


@contract(
    "issues.page_past_cap",
    "A listing serves at most 25 pages; asking for page 26 answers page 25 again.",
    tags={"read"},
    guess="Past the 25-page cap a listing answers page 25 again (page_cap=25, "
    "page_cap_answer=repeat: live clients report the cap, nobody what lies past it; 404 and "
    "an empty page are the other candidates).",
)
def issues_page_past_cap(target: Target) -> str:
    at_cap, meta = listing(target, "/issues", per_page=1, page=PAGE_CAP)
    check(
        meta["entries"] > PAGE_CAP,
        f"only {meta['entries']} issues: page {PAGE_CAP + 1} at one per page is past the end",
    )
    response = target.get("/issues", params={"per_page": 1, "page": PAGE_CAP + 1})
    if response.status_code == 404:
        observed = f"page {PAGE_CAP + 1} answered 404"
    elif response.status_code != 200 or not isinstance(body(response), dict):
        observed = f"page {PAGE_CAP + 1} answered {shown(response)}"
    else:
        past = body(response).get("issues") or []
        if not past:
            observed = f"page {PAGE_CAP + 1} answered an empty page"
        elif ids(past) == ids(at_cap):
            return f"page {PAGE_CAP + 1} answered page {PAGE_CAP} again"
        else:
            observed = f"page {PAGE_CAP + 1} was served (no cap at {PAGE_CAP})"
    check(False, observed)
    return observed


@contract(
    "profile_issues.listing",
    "GET /profile/issues lists the signed-in user's reports (reporter id theirs, or 0 for an "
    "anonymous report), paginated like /issues.",
    tags={"read"},
    needs={"user"},
)
def profile_issues_listing(target: Target) -> str:
    me = profile_id(target)
    items, meta = listing(target, "/profile/issues", signed_in=True, per_page=5)
    check(
        meta["pages"] == expected_pages(meta), f"entries {meta['entries']}, pages {meta['pages']}"
    )
    others = [
        item.get("id") for item in items if (item.get("reporter") or {}).get("id") not in (me, 0)
    ]
    check(not others, f"issues {others} were reported by someone else")
    return f"{meta['entries']} reported issues"


# filters -----------------------------------------------------------------------------------------


@contract(
    "filters.updated_at_bounds",
    "updated_at_after is inclusive (an issue updated at exactly that second is listed) and "
    "updated_at_before exclusive.",
    tags={"read"},
)
def filters_updated_at_bounds(target: Target) -> str:
    newest = newest_issues(target, 1)[0]
    moment = timestamp(newest.get("updated_at"))
    check(moment.microsecond == 0, f"updated_at {newest.get('updated_at')} has a fraction")
    bound = filter_time(moment)
    after, _ = listing(target, "/issues", per_page=20, updated_at_after=bound)
    check(newest["id"] in ids(after), f"updated_at_after={bound} left out issue {newest['id']}")
    later = filter_time(moment + timedelta(seconds=1))
    before, _ = listing(
        target,
        "/issues",
        per_page=20,
        updated_at_before=bound,
        updated_at_after=filter_time(moment - timedelta(days=1)),
    )
    check(newest["id"] not in ids(before), f"updated_at_before={bound} listed issue {newest['id']}")
    after_later, _ = listing(target, "/issues", per_page=20, updated_at_after=later)
    check(
        newest["id"] not in ids(after_later),
        f"updated_at_after={later} listed issue {newest['id']} updated at {bound}",
    )
    return f"issue {newest['id']} updated at {bound}: listed from {bound}, not before it"


@contract(
    "filters.status",
    "status takes a comma-separated lower-case list and answers only those statuses "
    "(capitalised); without it archived issues are left out.",
    tags={"read"},
)
def filters_status(target: Target) -> str:
    seen: dict[str, set[str]] = {}
    for asked, allowed in (
        ("closed,archived", {"Closed", "Archived"}),
        ("open,acknowledged", {"Open", "Acknowledged"}),
        (None, {"Open", "Acknowledged", "Closed"}),
    ):
        params: dict[str, Any] = {"per_page": 20}
        if asked:
            params["status"] = asked
        items, _ = listing(target, "/issues", **params)
        statuses = {str(item.get("status")) for item in items}
        check(
            statuses <= allowed,
            f"status={asked or '(default)'} answered statuses {sorted(statuses)}",
        )
        seen[asked or "default"] = statuses
    unknown = set().union(*seen.values()) - set(STATUSES)
    check(not unknown, f"unknown statuses {sorted(unknown)}")
    return "; ".join(f"{k}: {', '.join(sorted(v)) or 'none'}" for k, v in seen.items())


@contract(
    "filters.sort",
    "sort=updated_at orders by updated_at, ascending with sort_direction=ASC and descending "
    "with DESC.",
    tags={"read"},
)
def filters_sort(target: Target) -> str:
    for direction in ("ASC", "DESC"):
        items, _ = listing(
            target, "/issues", per_page=20, sort="updated_at", sort_direction=direction
        )
        times = [timestamp(item.get("updated_at")) for item in items]
        ordered = sorted(times, reverse=direction == "DESC")
        check(times == ordered, f"sort_direction={direction} answered out of order")
    return "ASC and DESC in order"


# single issues, conditional requests, comments, request types ------------------------------------


@contract(
    "issues.single",
    "GET /issues/<id> answers the issue: the same id, a capitalised status, updated_at and a "
    "reporter.",
    tags={"read"},
)
def issues_single(target: Target) -> str:
    wanted = some_issue(target)["id"]
    response = target.get(f"/issues/{wanted}")
    data = body(response)
    check(response.status_code == 200 and isinstance(data, dict), shown(response))
    check(data.get("id") == wanted, f"asked for {wanted}, got id {data.get('id')!r}")
    check(data.get("status") in STATUSES, f"status {data.get('status')!r}")
    timestamp(data.get("updated_at"))
    check(isinstance(data.get("reporter"), dict), f"reporter {data.get('reporter')!r}")
    return f"issue {wanted}, {data['status']}"


@contract(
    "issues.details",
    "GET /issues/<id>?details=true adds comments, questions, votes and "
    "current_user_relationship; each comment has its text and created_at.",
    tags={"read"},
)
def issues_details(target: Target) -> str:
    wanted = some_issue(target)["id"]
    response = target.get(f"/issues/{wanted}", params={"details": "true"})
    data = body(response)
    check(response.status_code == 200 and isinstance(data, dict), shown(response))
    missing = [
        key
        for key in ("comments", "questions", "votes", "current_user_relationship")
        if key not in data
    ]
    check(not missing, f"details=true lacks {missing}")
    comments = data["comments"]
    check(isinstance(comments, list), f"comments is {type(comments).__name__}")
    for comment in comments:
        check(
            isinstance(comment, dict) and "comment" in comment and "created_at" in comment,
            f"a comment without text or created_at: {sorted(comment)}",
        )
    return f"issue {wanted}: {len(comments)} comments"


@contract(
    "issues.not_modified",
    "An issue answers with an ETag; asking again with If-None-Match gets 304 Not Modified "
    "with no body.",
    tags={"read"},
)
def issues_not_modified(target: Target) -> str:
    wanted = some_issue(target)["id"]
    first = target.get(f"/issues/{wanted}")
    check(first.status_code == 200, shown(first))
    etag = first.headers.get("ETag")
    check(etag, f"GET /issues/{wanted} has no ETag (headers: {sorted(first.headers)})")
    again = target.get(f"/issues/{wanted}", headers={"If-None-Match": str(etag)})
    check(again.status_code == 304, f"If-None-Match answered {shown(again)}")
    check(not again.content, f"a 304 with a body of {len(again.content)} bytes")
    has_date = "Last-Modified" in first.headers
    return f"ETag {etag}, 304 on If-None-Match" + ("; Last-Modified too" if has_date else "")


@contract(
    "comments.listing",
    "GET /issues/<id>/comments answers a 'comments' list in creation order.",
    tags={"read"},
)
def comments_listing(target: Target) -> str:
    wanted = some_issue(target)["id"]
    response = target.get(f"/issues/{wanted}/comments")
    data = body(response)
    check(response.status_code == 200 and isinstance(data, dict), shown(response))
    comments = data.get("comments")
    check(isinstance(comments, list), f"no comments list among {sorted(data)}")
    times = [timestamp(c.get("created_at")) for c in comments]
    check(times == sorted(times), "comments out of creation order")
    return f"issue {wanted}: {len(comments)} comments in order"


@contract(
    "request_types.at_a_spot",
    "GET /issues/new?lat&lng lists request types (title, url), an 'Other' entry among them; "
    "GET /request_types/<id> answers its questions, each with a primary_key and question_type.",
    tags={"read"},
)
def request_types_at_a_spot(target: Target) -> str:
    issue = some_issue(target)
    response = target.get("/issues/new", params={"lat": issue.get("lat"), "lng": issue.get("lng")})
    data = body(response)
    check(response.status_code == 200 and isinstance(data, dict), shown(response))
    types = data.get("request_types")
    check(isinstance(types, list) and types, f"no request types at issue {issue['id']}'s spot")
    for entry in types:
        check("title" in entry and "url" in entry, f"a request type without title/url: {entry}")
    check(any(entry.get("title") == "Other" for entry in types), "no 'Other' entry at this spot")
    numbered = [t for t in types if isinstance(t.get("id"), int)]
    check(numbered, "no request type with an id")
    chosen = numbered[0]["id"]
    response = target.get(f"/request_types/{chosen}")
    data = body(response)
    check(response.status_code == 200 and isinstance(data, dict), shown(response))
    questions = data.get("questions")
    check(isinstance(questions, list), f"request type {chosen} has no questions list")
    for question in questions:
        check(
            isinstance(question.get("primary_key"), str) and "question_type" in question,
            f"a question without primary_key or question_type: {sorted(question)}",
        )
    return f"{len(types)} request types; request type {chosen} has {len(questions)} questions"


# writing -----------------------------------------------------------------------------------------


def _comment_text(what: str) -> str:
    return f"Contract check by django-seeclickfix ({what}); please ignore."


@contract(
    "comments.create",
    "POST /issues/<id>/comments answers 201 with the comment (then listed), or 202 "
    '{"metadata": {"moderated": true}} with no id when held for moderation.',
    tags={"write"},
    needs={"user"},
)
def comments_create(target: Target) -> str:
    issue_id = own_issue_id(target)
    text = _comment_text("comment")
    response = target.api(
        "POST", f"/issues/{issue_id}/comments", data={"comment": text}, signed_in=True
    )
    data = body(response)
    if response.status_code == 202:
        check(
            isinstance(data, dict) and (data.get("metadata") or {}).get("moderated") is True,
            shown(response),
        )
        return "202 moderated"
    check(response.status_code == 201 and isinstance(data, dict), shown(response))
    check(data.get("comment") == text, f"the 201 carries comment {data.get('comment')!r}")
    listed = body(target.get(f"/issues/{issue_id}/comments")) or {}
    texts = [c.get("comment") for c in listed.get("comments") or []]
    check(text in texts, f"the new comment is not listed on issue {issue_id}")
    return f"201 on issue {issue_id}, listed"


@contract(
    "comments.moderated",
    'A comment held for moderation answers 202 {"metadata": {"moderated": true}} with no id.',
    tags={"write"},
    needs={"user", "control"},
)
def comments_moderated(target: Target) -> str:
    assert target.control is not None
    issue_id = own_issue_id(target)
    target.control.set_moderation(comments=True)
    try:
        response = target.api(
            "POST",
            f"/issues/{issue_id}/comments",
            data={"comment": _comment_text("moderated comment")},
            signed_in=True,
        )
    finally:
        target.control.set_moderation(comments=False)
    data = body(response)
    check(response.status_code == 202 and isinstance(data, dict), shown(response))
    check((data.get("metadata") or {}).get("moderated") is True, shown(response))
    check("id" not in data, f"a moderated comment with id {data.get('id')!r}")
    return "202 moderated, no id"


def _status_of(target: Target, issue_id: int) -> str:
    return str((body(target.get(f"/issues/{issue_id}")) or {}).get("status"))


@contract(
    "issues.close_and_reopen",
    "The reporter can close an issue (POST /issues/<id>/close with a comment: it becomes "
    "Closed) and reopen it (POST /issues/<id>/open: Open again).",
    tags={"write"},
    needs={"user"},
)
def issues_close_and_reopen(target: Target) -> str:
    issue_id = own_issue_id(target)
    was = _status_of(target, issue_id)
    # Leave the issue as it was found: a closed one is reopened first and closed again.
    steps = (
        [("open", "Open"), ("close", "Closed")]
        if was in ("Closed", "Archived")
        else [
            ("close", "Closed"),
            ("open", "Open"),
        ]
    )
    for action, status in steps:
        response = target.api(
            "POST",
            f"/issues/{issue_id}/{action}",
            data={"comment": _comment_text(action)},
            signed_in=True,
        )
        check(200 <= response.status_code < 300, f"POST {action} answered {shown(response)}")
        now = _status_of(target, issue_id)
        check(now == status, f"after POST {action} issue {issue_id} is {now}")
    return f"issue {issue_id}: {' then '.join(s for _, s in steps)}"
