"""The client against the SeeClickFix emulator over real HTTP (sockets, urllib3, faults)."""

from __future__ import annotations

import http.client
import logging
from datetime import timedelta

import pytest

from django_seeclickfix.client import (
    ApiSession,
    BasicAuth,
    BearerAuth,
    MemoryEtagStore,
    MemoryStore,
    OAuthClient,
    RateBudget,
    SeeClickFixClient,
    TokenSourceAuth,
    Unlimited,
)
from django_seeclickfix.exceptions import (
    APIError,
    PermissionDenied,
    RateLimited,
    ReauthRequired,
    TransientError,
    ValidationError,
)
from django_seeclickfix.testing.emulator import CODE_APP_ID, CODE_APP_SECRET

pytestmark = pytest.mark.integration


def client_for(emulator, token, **options):
    options.setdefault("budget", Unlimited())
    options.setdefault("etag_store", MemoryEtagStore())
    return SeeClickFixClient(emulator.url, BearerAuth(token), **options)


@pytest.fixture
def rita(scf_emulator):
    return client_for(scf_emulator, scf_emulator.issue_token("resident").access_token)


def test_profile_emails_and_user(scf_emulator, rita):
    profile = rita.get_profile()
    assert profile.name == "Rita Resident"
    assert profile.created_at.utcoffset() == timedelta(0)
    assert [e.email for e in rita.list_emails()] == ["rita@example.com"]
    assert rita.get_user(profile.id).name == "Rita Resident"
    logged = scf_emulator.requests("/api/v2/")
    assert {r.user_agent.split("/")[0] for r in logged} == {"django-seeclickfix"}


def test_basic_auth_service_user(scf_emulator):
    oscar = scf_emulator.user("official")
    scf = SeeClickFixClient(
        scf_emulator.url, BasicAuth(oscar.email, oscar.password), budget=Unlimited()
    )
    profile = scf.get_profile()
    assert profile.can_acknowledge is True


def test_my_issues_incremental_and_conditional(scf_emulator, rita):
    everything = list(rita.my_issue_pages())
    issues = [i for page in everything for i in page.items]
    assert len(issues) == 30
    stamps = [i.updated_at for i in issues]
    assert stamps == sorted(stamps)
    cursor = max(stamps)

    # First sync from the cursor: one page holding only the boundary issues; then a 304.
    before = len(scf_emulator.requests("/api/v2/profile/issues"))
    boundary = list(rita.my_issue_pages(cursor, conditional=True))
    assert all(i.updated_at == cursor for p in boundary for i in p.items)
    unchanged = list(rita.my_issue_pages(cursor, conditional=True))
    assert [p.not_modified for p in unchanged] == [True]
    logged = scf_emulator.requests("/api/v2/profile/issues")[before:]
    assert [r.status for r in logged] == [200, 304]

    # An issue changes on SeeClickFix: the next sync from the same cursor sees it.
    scf_emulator.advance(60)
    scf_emulator.update_issue(issues[0].id, status="Closed")
    changed = [i for p in rita.my_issue_pages(cursor, conditional=True) for i in p.items]
    assert issues[0].id in [i.id for i in changed]
    assert next(i for i in changed if i.id == issues[0].id).status == "closed"


def test_an_ad_hoc_listing_answers_on_every_call(scf_emulator, rita):
    for _reload in range(3):
        assert len(list(rita.iter_my_issues())) == 30
    assert {r.status for r in scf_emulator.requests("/api/v2/profile/issues")} == {200}


@pytest.mark.parametrize("sample_shapes", [False, True])
def test_the_parser_reads_real_and_sample_shapes(scf_emulator, rita, sample_shapes):
    scf_emulator.set_quirks(sample_shapes=sample_shapes)
    issue = next(i for i in scf_emulator.state.issues.values() if len(i.comments) > 1)
    comments = rita.list_comments(issue.id)
    real_ids = [c.id for c in issue.comments if not c.pending]
    assert [c.id for c in comments] == (real_ids if not sample_shapes else [None] * len(real_ids))
    assert all(c.text and c.created_at for c in comments)
    fetched = rita.get_issue(issue.id)
    assert fetched.reporter is not None
    assert fetched.reporter.id == issue.reporter_id
    assert fetched.status == issue.status.lower()
    detailed = rita.get_issue(issue.id, details=True)
    assert detailed.comment_count == len(real_ids)
    assert [c.id for c in detailed.comments or ()] == [c.id for c in comments]


def test_many_pages_with_string_null_quirk(scf_emulator, rita):
    scf_emulator.set_quirks(string_null_pagination=True)
    scf_emulator.generate_issues("resident", 220)
    pages = list(rita.my_issue_pages(per_page=100))
    ids = [i.id for p in pages for i in p.items]
    assert len(ids) == len(set(ids)) == 250
    assert len(pages) >= 3
    requested = [
        (r.query.get("updated_at_after"), r.query.get("page"))
        for r in scf_emulator.requests("/api/v2/profile/issues")
    ]
    assert len(requested) == len(set(requested))  # nothing requested twice
    listed = list(rita.iter_issues(status="open", per_page=100))
    assert {i.status for i in listed} == {"open"}


def test_issue_details_comments_and_actions(scf_emulator, rita):
    issue = next(rita.iter_my_issues())
    detailed = rita.get_issue(issue.id, details=True)
    assert detailed.current_user_relationship["reporter"] is True
    created = rita.add_comment(issue.id, "Still there")
    assert created.moderated is False
    assert created.item.text == "Still there"
    assert [c.text for c in rita.list_comments(issue.id)][-1] == "Still there"
    if detailed.current_user_relationship["following"]:
        rita.unfollow(issue.id)  # reporters follow their issues
    rita.follow(issue.id)
    with pytest.raises(APIError):
        rita.follow(issue.id)  # following twice is an error
    rita.unfollow(issue.id)
    rita.vote(issue.id)
    rita.unvote(issue.id)
    closed = rita.close_issue(issue.id, "Fixed, thanks")
    assert closed.item.issue_status == "closed"
    reopened = rita.reopen_issue(issue.id, "It is back")
    assert reopened.item.issue_status == "open"
    with pytest.raises(PermissionDenied):
        rita.acknowledge_issue(issue.id, "On it")
    scf_emulator.set_moderation(comments=True)
    held = rita.add_comment(issue.id, "Held")
    assert (held.moderated, held.id) == (True, None)


def test_reporting_an_issue(scf_emulator, rita):
    issue = next(rita.iter_my_issues())
    kinds = rita.request_types_at(issue.lat, issue.lng)
    kind = rita.get_request_type(next(k.id for k in kinds if k.id != "other"))
    with pytest.raises(ValidationError) as caught:
        rita.create_issue(lat=issue.lat, lng=issue.lng, request_type_id=kind.id, answers={})
    required = {q.primary_key for q in kind.questions if q.required}
    assert required <= set(caught.value.errors)
    answers = {q.primary_key: q.choices[0] if q.choices else "yes" for q in kind.questions}
    created = rita.create_issue(
        lat=issue.lat, lng=issue.lng, request_type_id=kind.id, answers=answers
    )
    assert created.id is not None
    assert created.item.summary == kind.title
    scf_emulator.set_moderation(issues=True)
    held = rita.create_issue(lat=issue.lat, lng=issue.lng, request_type_id=kind.id, answers=answers)
    assert held.moderated is True


@pytest.mark.parametrize("shape", ["flat", "errors", "errors_list"])
def test_each_422_shape_from_the_emulator(scf_emulator, rita, shape):
    scf_emulator.configure(validation_error_shape=shape)
    with pytest.raises(ValidationError) as caught:
        rita.create_issue(lat=41.3, lng=-72.9, request_type_id="")
    assert caught.value.errors["request_type_id"] == ["can't be blank"]


class RefreshingSource:
    """A token source that refreshes through the emulator's token endpoint."""

    def __init__(self, emulator, issued):
        self.access = issued.access_token
        self.refresh_token = issued.refresh_token
        self.oauth = OAuthClient(
            emulator.url, CODE_APP_ID, CODE_APP_SECRET, session=ApiSession(budget=Unlimited())
        )
        self.calls = []

    def get_token(self):
        return self.access

    def token_rejected(self, token, *, final):
        self.calls.append(final)
        if final:
            return None
        fresh = self.oauth.refresh(self.refresh_token)
        self.access, self.refresh_token = fresh.access_token, fresh.refresh_token
        return self.access


@pytest.mark.parametrize("behaviour", ["401", "403", "anonymous"])
def test_expired_token_is_refreshed_and_the_call_retried_once(scf_emulator, behaviour):
    scf_emulator.invalid_token_behaviour = behaviour
    source = RefreshingSource(scf_emulator, scf_emulator.issue_token("resident"))
    scf = SeeClickFixClient(scf_emulator.url, TokenSourceAuth(source), budget=Unlimited())
    scf_emulator.advance(7300)  # past the 2-hour access token lifetime
    assert scf.get_profile().name == "Rita Resident"
    assert source.calls == [False]
    assert scf_emulator.token_requests("refresh_token") == 1


@pytest.mark.parametrize("behaviour", ["401", "403", "anonymous"])
def test_deauthorised_app_needs_reauth(scf_emulator, behaviour):
    scf_emulator.invalid_token_behaviour = behaviour
    source = RefreshingSource(scf_emulator, scf_emulator.issue_token("resident"))
    scf = SeeClickFixClient(scf_emulator.url, TokenSourceAuth(source), budget=Unlimited())
    scf_emulator.deauthorize("resident")
    with pytest.raises(ReauthRequired):
        scf.get_profile()  # the refresh itself fails with invalid_grant


def test_oauth_round_trip(scf_emulator):
    oauth = OAuthClient(
        scf_emulator.url, CODE_APP_ID, CODE_APP_SECRET, session=ApiSession(budget=Unlimited())
    )
    redirect = scf_emulator.code_app.redirect_uris[0]
    code = scf_emulator.issue_code("resident", redirect_uri=redirect)
    token = oauth.exchange_code(code, redirect)
    assert token.expires_in == 7200
    assert oauth.token_info(token.access_token)["resource_owner_id"] == 1001
    fresh = oauth.refresh(token.refresh_token)
    oauth.revoke(fresh.access_token, "access_token")
    oauth.revoke("never-issued")  # unknown tokens: 200, success
    assert scf_emulator.token_state(fresh.access_token).startswith("revoked")
    with pytest.raises(ReauthRequired):
        oauth.token_info(fresh.access_token)
    with pytest.raises(ReauthRequired):
        oauth.exchange_code(code, redirect)  # codes are single use


# faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("truncate", {}, "cut off"),
        ("malformed_json", {}, "not JSON"),
        ("reset", {}, "could not reach"),
        ("error", {"status": 502}, "502"),
        ("oversized", {"size": 2 * 1024 * 1024}, "limit"),
        ("oversized", {"size": 2 * 1024 * 1024, "chunked": True}, "limit"),
    ],
)
def test_faults_become_transient_errors(scf_emulator, rita, kind, params, message):
    rita.session.max_bytes = 1024 * 1024
    scf_emulator.faults.add(r"^/api/v2/emails$", kind, count=1, **params)
    with pytest.raises(TransientError, match=message):
        rita.list_emails()
    assert rita.list_emails()  # the next call works: nothing stuck, nothing retried inside


def test_read_timeout_and_deadline(scf_emulator):
    token = scf_emulator.issue_token("resident").access_token
    slow = client_for(scf_emulator, token, read_timeout=0.3)
    scf_emulator.faults.add(r"^/api/v2/emails$", "latency", count=1, delay=1.0)
    with pytest.raises(TransientError, match="in time"):
        slow.list_emails()
    dripping = client_for(scf_emulator, token, deadline=0.5, read_timeout=0.3)
    scf_emulator.faults.add(r"^/api/v2/emails$", "slow_drip", count=1, chunk_size=4, interval=0.05)
    with pytest.raises(TransientError, match="deadline"):
        dripping.list_emails()


@pytest.mark.parametrize("fmt", ["seconds", "http-date", "garbage", "none"])
def test_429_forms_pause_the_shared_budget(scf_emulator, fmt):
    token = scf_emulator.issue_token("resident").access_token
    budget = RateBudget(100, 60, store=MemoryStore(), max_wait=0.2, retry_after_default=45)
    scf = client_for(scf_emulator, token, budget=budget)
    scf_emulator.faults.add(
        r"^/api/v2/emails$", "rate_limit", count=1, retry_after=20, retry_after_format=fmt
    )
    with pytest.raises(RateLimited) as caught:
        scf.list_emails()
    expected = 45 if fmt in ("garbage", "none") else 20
    assert caught.value.retry_after == pytest.approx(expected, abs=1.5)
    with pytest.raises(RateLimited):
        client_for(scf_emulator, token, budget=budget).get_profile()
    assert len(scf_emulator.requests("/api/v2/")) == 1  # nobody sent during the pause


def test_redirects(scf_emulator, scf_emulator_factory, rita):
    other = scf_emulator_factory(rate_limit=None)
    scf_emulator.faults.add(
        r"^/api/v2/emails$", "redirect", count=1, location=f"{other.url}/api/v2/emails"
    )
    with pytest.raises(APIError, match="another host"):
        rita.list_emails()
    assert other.requests() == []
    scf_emulator.faults.add(
        r"^/api/v2/emails$", "redirect", count=1, status=301, location="/api/v2/emails?moved=1"
    )
    assert rita.list_emails()
    [followed] = [r for r in scf_emulator.requests("/api/v2/emails") if r.query.get("moved")]
    assert followed.auth == "bearer"


def test_debug_logging_of_requests_and_urllib3_never_shows_secrets(scf_emulator, caplog):
    caplog.set_level(logging.DEBUG)
    assert http.client.HTTPConnection.debuglevel == 0  # would print headers to stdout
    issued = scf_emulator.issue_token("resident")
    client_for(scf_emulator, issued.access_token).get_profile()
    oauth = OAuthClient(
        scf_emulator.url, CODE_APP_ID, CODE_APP_SECRET, session=ApiSession(budget=Unlimited())
    )
    oauth.refresh(issued.refresh_token)
    with pytest.raises(ReauthRequired):
        oauth.refresh(issued.refresh_token)  # rotated: the old one is refused
    text = caplog.text
    assert "urllib3.connectionpool" in {r.name for r in caplog.records}  # really at DEBUG
    for secret in (issued.access_token, issued.refresh_token, CODE_APP_SECRET):
        assert secret not in text
