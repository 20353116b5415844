"""Transport safety: every request through ApiSession, checked against a mocked host."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from django_seeclickfix import __version__
from django_seeclickfix.client import (
    ApiSession,
    BearerAuth,
    MemoryStore,
    RateBudget,
    SeeClickFixClient,
)
from django_seeclickfix.client.session import parse_retry_after, same_site
from django_seeclickfix.exceptions import AbuseBlocked, APIError, RateLimited, TransientError

from .conftest import API, BASE, TOKEN, sample


def budget(**kwargs):
    return RateBudget(100, 60, store=MemoryStore(), max_wait=0.5, **kwargs)


def make_client(**kwargs):
    kwargs.setdefault("budget", budget())
    return SeeClickFixClient(BASE, BearerAuth(TOKEN), **kwargs)


def capture(rsps, method, url, body, status=200):
    """Register ``url`` and keep the headers as sent (the session scrubs them afterwards)."""
    seen = []

    def reply(request):
        seen.append(dict(request.headers))
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(method, url, callback=reply)
    return seen


def test_user_agent_accept_timeouts_and_tls_on_every_call(rsps):
    first = capture(rsps, "GET", f"{API}/profile", sample("profile_logged_in"))
    second = capture(rsps, "GET", f"{API}/emails", {"emails": []})
    scf = make_client(connect_timeout=2, read_timeout=7)
    scf.get_profile()
    scf.list_emails()
    sent = first + second
    assert len(rsps.calls) == 2
    for call, headers in zip(rsps.calls, sent, strict=True):
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["User-Agent"] == (
            f"django-seeclickfix/{__version__} "
            "(+https://github.com/django-seeclickfix/django-seeclickfix)"
        )
        assert call.request.headers["Accept"] == "application/json"
        assert call.request.req_kwargs["timeout"] == (2.0, 7.0)
        # True, or the CA bundle named by REQUESTS_CA_BUNDLE: verification is never off.
        assert call.request.req_kwargs["verify"] not in (False, None, "")
        assert call.request.req_kwargs["stream"] is True
        assert TOKEN not in call.request.url


def test_user_agent_is_configurable(rsps, settings):
    settings.SEECLICKFIX = {**settings.SEECLICKFIX, "USER_AGENT": "civic-site/2 (+https://x.org)"}
    rsps.get(f"{API}/emails", json={"emails": []})
    make_client().list_emails()
    assert rsps.calls[0].request.headers["User-Agent"] == "civic-site/2 (+https://x.org)"


def test_timeouts_never_exceed_the_remaining_deadline(rsps):
    rsps.get(f"{API}/emails", json={"emails": []})
    make_client(connect_timeout=5, read_timeout=30, deadline=3).list_emails()
    connect, read = rsps.calls[0].request.req_kwargs["timeout"]
    assert connect <= 3
    assert read <= 3


def test_announced_body_over_the_cap_is_refused_before_reading(rsps):
    rsps.get(f"{API}/emails", body=b"x" * 10, headers={"Content-Length": "5000"})
    with pytest.raises(TransientError, match="over the limit of 1000 bytes"):
        make_client(max_bytes=1000).list_emails()


def test_streamed_body_over_the_cap_is_cut_off(rsps):
    rsps.get(f"{API}/emails", body=b'{"emails": [' + b'"x",' * 50_000 + b'"x"]}')
    with pytest.raises(TransientError, match="passed the limit"):
        make_client(max_bytes=64 * 1024).list_emails()


def test_same_host_redirect_is_followed_with_credentials(rsps):
    rsps.get(f"{API}/profile", status=301, headers={"Location": "/api/v2/profile2"})
    sent = capture(rsps, "GET", f"{API}/profile2", sample("profile_logged_in"))
    spent = budget()
    assert make_client(budget=spent).get_profile().id == 1
    assert sent[0]["Authorization"] == f"Bearer {TOKEN}"
    assert spent.stats.acquired == 2  # every hop costs budget


def test_cross_host_redirect_is_not_followed_and_sends_no_credentials(rsps):
    rsps.get(f"{API}/profile", status=302, headers={"Location": "https://evil.example/steal"})
    elsewhere = rsps.get("https://evil.example/steal", json={"id": 1})
    with pytest.raises(APIError, match="another host") as caught:
        make_client().get_profile()
    assert elsewhere.call_count == 0
    assert TOKEN not in str(caught.value)
    assert caught.value.status == 302


def test_redirect_downgrading_to_http_is_refused(rsps):
    rsps.get(f"{API}/profile", status=301, headers={"Location": "http://scf.example/api/v2/p"})
    with pytest.raises(APIError, match="another host"):
        make_client().get_profile()


def test_post_redirected_with_303_becomes_get_without_body(rsps):
    rsps.post(f"{API}/issues/1/comments", status=303, headers={"Location": "/api/v2/c/9"})
    final = rsps.get(f"{API}/c/9", json=sample("comment_created"), status=201)
    created = make_client().add_comment(1, "Still there")
    assert final.call_count == 1
    assert rsps.calls[1].request.body is None
    assert created.item is not None


def test_redirect_loops_stop(rsps):
    rsps.get(f"{API}/profile", status=302, headers={"Location": "/api/v2/profile"})
    with pytest.raises(TransientError, match="more than 5 times"):
        make_client().get_profile()
    assert len(rsps.calls) == 6


@pytest.mark.parametrize(
    ("origin", "target", "same"),
    [
        ("https://a.org/x", "https://A.org:443/y", True),
        ("http://a.org/x", "https://a.org/y", True),
        ("https://a.org/x", "http://a.org/y", False),
        ("https://a.org/x", "https://a.org:8443/y", False),
        ("https://a.org/x", "https://b.a.org/y", False),
        ("http://127.0.0.1:8001/x", "http://127.0.0.1:8001/y", True),
    ],
)
def test_same_site_rules(origin, target, same):
    assert same_site(origin, target) is same


def test_429_with_seconds_pauses_the_whole_budget(rsps):
    rsps.get(
        f"{API}/emails",
        status=429,
        headers={"Retry-After": "17"},
        json={"message": "Too Many Requests"},
    )
    shared = budget()
    with pytest.raises(RateLimited) as caught:
        make_client(budget=shared).list_emails()
    assert caught.value.retry_after == 17
    assert caught.value.status == 429
    assert 16 < shared.paused_for() <= 17
    # Another client (another worker) sharing the budget now refuses without sending.
    with pytest.raises(RateLimited) as again:
        make_client(budget=shared).list_emails()
    assert again.value.retry_after > 16
    assert len(rsps.calls) == 1


def test_429_with_http_date(rsps):
    when = datetime.now(UTC) + timedelta(seconds=40)
    rsps.get(f"{API}/emails", status=429, headers={"Retry-After": format_datetime(when, True)})
    with pytest.raises(RateLimited) as caught:
        make_client().list_emails()
    assert 35 <= caught.value.retry_after <= 41


@pytest.mark.parametrize("header", [None, "soon", "-5", "nan", "99999999"])
def test_429_without_usable_retry_after_uses_the_default(rsps, header):
    headers = {"Retry-After": header} if header else {}
    rsps.get(f"{API}/emails", status=429, headers=headers)
    scf = SeeClickFixClient(BASE, BearerAuth(TOKEN), budget=budget())
    scf.session.retry_after_default = 45
    with pytest.raises(RateLimited) as caught:
        scf.list_emails()
    assert caught.value.retry_after == 45


def test_parse_retry_after_dates_in_the_past_still_wait_a_little():
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=5), True)
    assert parse_retry_after(past, 60) == 1.0
    assert parse_retry_after("Wed, 99 Foo 2020 nonsense", 60) == 60
    assert parse_retry_after("0", 60) == 1.0


def test_abuse_403_pauses_and_is_its_own_error(rsps):
    rsps.get(
        f"{API}/emails",
        status=403,
        headers={"Retry-After": "120"},
        json={"message": "Request forbidden by administrative rules."},
    )
    shared = budget()
    with pytest.raises(AbuseBlocked) as caught:
        make_client(budget=shared).list_emails()
    assert caught.value.retry_after == 120
    assert shared.paused_for() > 100


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectTimeout("slow"),
        requests.ReadTimeout("slow"),
        requests.ConnectionError("reset by peer"),
    ],
)
def test_transport_failures_are_transient_and_not_retried(rsps, failure):
    rsps.get(f"{API}/emails", body=failure)
    with pytest.raises(TransientError):
        make_client().list_emails()
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"emails": [', b""])
def test_non_json_or_truncated_bodies_are_transient(rsps, body):
    rsps.get(f"{API}/emails", body=body, status=200)
    with pytest.raises(TransientError, match="not JSON"):
        make_client().list_emails()


def test_errors_and_logs_never_show_the_token(rsps, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.get(f"{API}/issues/5", status=500, body=f"boom {TOKEN}")
    with pytest.raises(TransientError) as caught:
        make_client().get_issue(5)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)
    assert TOKEN not in caplog.text
    assert "GET /api/v2/issues/5 -> 500" in caplog.text


def test_responses_kept_on_errors_are_scrubbed(rsps):
    rsps.get(f"{API}/issues/5", status=404, json={"message": "Not Found"})
    with pytest.raises(APIError) as caught:
        make_client().get_issue(5)
    kept = caught.value.response
    assert kept is not None
    assert kept.request.headers["Authorization"] == "[redacted]"


def test_session_repr_and_close():
    session = ApiSession(budget=budget())
    assert "django-seeclickfix" in repr(session)
    session.close()


def test_broken_budget_store_blocks_requests(rsps):
    class Broken(MemoryStore):
        def incr(self, key):
            raise ConnectionError("redis is down")

    rsps.get(f"{API}/emails", json={"emails": []})
    with pytest.raises(TransientError, match="cache is unavailable"):
        make_client(budget=RateBudget(5, 1, store=Broken())).list_emails()
    assert len(rsps.calls) == 0


def test_netrc_credentials_are_never_added(rsps, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine scf.example login leak@example.org password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    rsps.get(f"{API}/users/3", json={"id": 3})
    SeeClickFixClient(BASE, None, budget=budget()).get_user(3)
    assert "Authorization" not in rsps.calls[0].request.headers


def test_streaming_body_past_the_deadline(rsps, monkeypatch):
    rsps.get(f"{API}/emails", body=b'{"emails": []}')
    scf = make_client(deadline=5)
    calls = []

    def clock():
        calls.append(1)
        return 0.0 if len(calls) <= 2 else 100.0  # the body arrives after the deadline

    monkeypatch.setattr("django_seeclickfix.client.session.time.monotonic", clock)
    with pytest.raises(TransientError, match="deadline"):
        scf.list_emails()


def test_an_unregistered_url_is_refused_by_responses_not_sent(rsps):
    # Guard: a call these tests forgot to register must fail here, never reach a real host.
    with pytest.raises(TransientError) as caught:
        make_client().list_emails()
    assert "Connection refused by Responses" in str(caught.value.__cause__)
    assert len(rsps.calls) == 1
