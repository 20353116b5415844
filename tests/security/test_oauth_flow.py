"""Attacks on the OAuth flow that ``tests/linking/test_flow.py`` does not already make.

SeeClickFix is mocked with ``responses`` (every outgoing request is recorded), except where a
test needs real sockets (the token endpoint's transport faults run against the emulator).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import responses
from django.core import signing
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_seeclickfix.allauth_provider import flow
from django_seeclickfix.models import SeeClickFixAccount
from tests.linking.conftest import (
    CLIENT_ID,
    INFO_URL,
    PROFILE_URL,
    SECRET,
    TOKEN_URL,
    callback,
    calls_to,
    mock_scf,
    profile_body,
    provider_apps,
    scf_settings,
    start,
)
from tests.security.strategies import fuzz_cases

from .conftest import CALLBACK_URI, RELAY_URI, assert_secure_headers, links

pytestmark = pytest.mark.django_db

HOSTILE_NEXT = [
    "https://evil.example/",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "/ok\r\nLocation: https://evil.example",
    "/tab\tthere",
    "/nul\x00there",
    " //evil.example",
    "https:evil.example",
]


def implicit_scf(rsps: responses.RequestsMock, uid: str = CLIENT_ID) -> None:
    rsps.add(responses.GET, PROFILE_URL, json=profile_body())
    rsps.add(responses.GET, INFO_URL, json={"resource_owner_id": 1001, "application": {"uid": uid}})


def finish_at(client: Client, endpoint: str, state: str | None, **fields: str) -> Any:
    """Come back to the callback (code flow) or the relay (implicit flow) with ``state``."""
    if endpoint == "callback":
        return callback(client, state, **fields)
    data = {"access_token": "implicit-at", "token_type": "Bearer", **fields}
    if state is not None:
        data["state"] = state
    return client.post(reverse("seeclickfix_relay"), data)


def flow_apps(endpoint: str) -> Any:
    return provider_apps(secret="") if endpoint == "relay" else provider_apps()


def nothing_sent(rsps: responses.RequestsMock) -> bool:
    return not rsps.calls


def answer_both_flows(rsps: responses.RequestsMock) -> None:
    """SeeClickFix answering the code flow (token, profile) and the implicit flow (token info,
    profile): a test that expects nothing to be sent proves it against a server that would
    have answered."""
    mock_scf(rsps)
    rsps.add(responses.GET, INFO_URL, json={"application": {"uid": CLIENT_ID}})


def assert_refused_before_any_request(response: Any, rsps: responses.RequestsMock) -> None:
    assert response.status_code == 400
    assert_secure_headers(response)
    assert nothing_sent(rsps)
    assert links() == 0


# --- the state ---------------------------------------------------------------------------------


def test_state_has_at_least_128_bits_from_the_csprng_and_never_repeats(client, ada, monkeypatch):
    client.force_login(ada)
    asked: list[int] = []
    real = flow.secrets.token_urlsafe

    def recording(nbytes: int | None = None) -> str:
        asked.append(nbytes or 32)
        return real(nbytes)

    monkeypatch.setattr(flow.secrets, "token_urlsafe", recording)
    states = set()
    for _ in range(200):
        _, params = start(client)
        state = params["state"]
        raw = base64.urlsafe_b64decode(state + "=" * (-len(state) % 4))
        assert len(raw) * 8 >= 128
        states.add(state)
    assert len(states) == 200
    assert asked
    assert min(asked) * 8 >= 128  # every state came from the CSPRNG, at 128 bits or more


@pytest.mark.parametrize("endpoint", ["callback", "relay"])
@pytest.mark.parametrize(
    "change",
    [
        {"ENVIRONMENT": "test"},
        {"BASE_URL": "https://int.seeclickfix.com"},
        {"SITE_URL": "https://other-site.example"},
    ],
    ids=["environment", "host", "redirect-uri"],
)
def test_state_is_bound_to_the_configuration_it_started_under(
    client, ada, mocked, endpoint, change
):
    client.force_login(ada)
    answer_both_flows(mocked)
    with flow_apps(endpoint):
        _, params = start(client)
        with scf_settings(**change):
            response = finish_at(client, endpoint, params["state"])
    assert response.status_code == 400
    assert "another SeeClickFix environment" in response.content.decode()
    assert_secure_headers(response)
    assert nothing_sent(mocked)
    assert links() == 0


@pytest.mark.parametrize("endpoint", ["callback", "relay"])
def test_state_is_bound_to_the_app_it_started_with(client, ada, mocked, endpoint):
    client.force_login(ada)
    answer_both_flows(mocked)
    secret = "" if endpoint == "relay" else SECRET
    with provider_apps(secret=secret):
        _, params = start(client)
    another_app = {"APPS": [{"client_id": "another-app", "secret": secret}]}
    with override_settings(SOCIALACCOUNT_PROVIDERS={"seeclickfix": another_app}):
        response = finish_at(client, endpoint, params["state"])
    assert_refused_before_any_request(response, mocked)


@pytest.mark.parametrize("endpoint", ["callback", "relay"])
@pytest.mark.parametrize("who", ["logged-out", "other-user", "logged-in-after-login-start"])
def test_state_is_bound_to_the_user_who_started(client, ada, bob, mocked, endpoint, who):
    answer_both_flows(mocked)
    with flow_apps(endpoint):
        if who == "logged-in-after-login-start":
            _, params = start(client, process="login")
        else:
            client.force_login(ada)
            _, params = start(client)
        states = client.session["socialaccount_states"]
        if who == "logged-out":
            client.logout()
        else:
            client.force_login(bob)
        session = client.session
        session["socialaccount_states"] = states  # same browser, same stashed state
        session.save()
        response = finish_at(client, endpoint, params["state"])
    assert_refused_before_any_request(response, mocked)


@pytest.mark.parametrize("endpoint", ["callback", "relay"])
def test_state_from_another_session_is_refused(client, ada, mocked, endpoint):
    client.force_login(ada)
    answer_both_flows(mocked)
    with flow_apps(endpoint):
        _, params = start(client)
        attacker = Client()
        attacker.force_login(ada)  # even the same user, in another browser
        response = finish_at(attacker, endpoint, params["state"])
    assert_refused_before_any_request(response, mocked)


@pytest.mark.parametrize("endpoint", ["callback", "relay"])
def test_expired_state_is_refused_and_consumed(client, ada, mocked, monkeypatch, endpoint):
    client.force_login(ada)
    answer_both_flows(mocked)
    with flow_apps(endpoint), scf_settings(STATE_MAX_AGE=60):
        _, params = start(client)
        real = time.time
        monkeypatch.setattr(flow.time, "time", lambda: real() + 61)
        response = finish_at(client, endpoint, params["state"])
        assert response.status_code == 400
        monkeypatch.setattr(flow.time, "time", real)
        again = finish_at(client, endpoint, params["state"])  # and it is gone, not just late
    assert again.status_code == 400
    assert (
        "socialaccount_states" not in client.session or not client.session["socialaccount_states"]
    )
    assert nothing_sent(mocked)
    assert links() == 0


@pytest.mark.parametrize("endpoint", ["callback", "relay"])
def test_state_is_single_use_even_when_the_first_use_failed(client, ada, mocked, endpoint):
    client.force_login(ada)
    mock_scf(mocked, token={"error": "server_error"}, token_status=503)
    mocked.add(responses.GET, INFO_URL, status=503)
    with flow_apps(endpoint):
        _, params = start(client)
        first = finish_at(client, endpoint, params["state"])
        assert first.status_code == 400
        sent = len(mocked.calls)
        assert sent == 1  # the failed token request / token-info check
        replay = finish_at(client, endpoint, params["state"])
    assert replay.status_code == 400
    assert "invalid or has expired" in replay.content.decode()
    assert len(mocked.calls) == sent
    assert links() == 0


@pytest.mark.parametrize("error", ["access_denied", "server_error", "x" * 300])
def test_relay_error_consumes_the_state_and_sends_nothing(client, ada, mocked, error):
    client.force_login(ada)
    implicit_scf(mocked)
    with provider_apps(secret=""):
        _, params = start(client)
        response = finish_at(client, "relay", params["state"], error=error)
        assert response.status_code in (200, 400)  # a deny shows its page with 200
        assert_secure_headers(response)
        replay = finish_at(client, "relay", params["state"])
    assert replay.status_code == 400
    assert nothing_sent(mocked)
    assert links() == 0


@pytest.mark.parametrize("endpoint", ["callback", "relay"])
def test_replay_after_a_successful_link_is_refused(client, ada, mocked, endpoint):
    client.force_login(ada)
    answer_both_flows(mocked)
    with flow_apps(endpoint):
        _, params = start(client)
        assert finish_at(client, endpoint, params["state"]).status_code == 302
        linked_token = SeeClickFixAccount.objects.get().access_token
        sent = len(mocked.calls)
        replay = finish_at(client, endpoint, params["state"], access_token="attacker-token")
    assert replay.status_code == 400
    assert len(mocked.calls) == sent
    assert SeeClickFixAccount.objects.get().access_token == linked_token


# --- PKCE --------------------------------------------------------------------------------------


def _cookies_text(client: Client) -> str:
    """Every cookie the site set, decoded where it is a signed session."""
    parts = []
    for morsel in client.cookies.values():
        parts.append(morsel.value)
        with contextlib.suppress(signing.BadSignature):
            parts.append(json.dumps(signing.loads(morsel.value, salt=_session_salt())))
    return "\n".join(parts)


def _session_salt() -> str:
    return "django.contrib.sessions.backends.signed_cookies"


@pytest.mark.parametrize(
    "engine",
    ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.signed_cookies"],
    ids=["db-sessions", "cookie-sessions"],
)
def test_pkce_is_s256_and_the_verifier_appears_only_in_the_token_request_body(
    ada, mocked, caplog, engine
):
    caplog.set_level(logging.DEBUG)
    with override_settings(SESSION_ENGINE=engine):
        client = Client()
        client.force_login(ada)
        endpoint = mock_scf(mocked)
        started, params = start(client, next_url="/after/")
        assert params["code_challenge_method"] == "S256"
        seen_by_browser = [started["Location"], started.content.decode(), _cookies_text(client)]
        done = callback(client, params["state"])
        assert done.status_code == 302
        seen_by_browser += [str(done.headers), done.content.decode(), _cookies_text(client)]
        session_after = str(dict(client.session))

    (form,) = endpoint.forms
    verifier = form["code_verifier"]
    assert len(verifier) >= 43  # RFC 7636: 43..128 characters
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == params["code_challenge"]
    token_calls = calls_to(mocked, TOKEN_URL)
    assert len(token_calls) == 1
    assert verifier not in token_calls[0].request.url
    others = [call for call in mocked.calls if call not in token_calls]
    assert others  # the /profile request
    for call in others:
        assert verifier not in call.request.url
        assert verifier not in str(call.request.headers)
        assert verifier not in str(call.request.body or "")
    for text in seen_by_browser:
        assert verifier not in text
    assert verifier not in session_after
    assert verifier not in caplog.text


# --- starting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("process", ["redirect", "reauthenticate", "CONNECT", "login\x00"])
def test_unsupported_processes_do_not_start(client, ada, process):
    client.force_login(ada)
    response = client.post(reverse("seeclickfix_login"), {"process": process})
    assert response.status_code in (400, 403)
    assert "seeclickfix.com" not in response.get("Location", "")
    assert not client.session.get("socialaccount_states")


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_HOST": "evil.example"},
        {"HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_X_FORWARDED_PROTO": "https"},
    ],
    ids=["host", "x-forwarded-host"],
)
def test_redirect_uri_is_byte_identical_and_never_from_request_headers(
    client, ada, mocked, headers
):
    client.force_login(ada)
    endpoint = mock_scf(mocked)
    with override_settings(
        ALLOWED_HOSTS=["*"], USE_X_FORWARDED_HOST=True, SECURE_PROXY_SSL_HEADER=None
    ):
        response = client.post(reverse("seeclickfix_login"), {"process": "connect"}, **headers)
        params = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
        done = client.get(
            reverse("seeclickfix_callback"), {"state": params["state"], "code": "c"}, **headers
        )
    assert done.status_code == 302
    assert params["redirect_uri"] == CALLBACK_URI
    (form,) = endpoint.forms
    assert form["redirect_uri"].encode() == params["redirect_uri"].encode() == CALLBACK_URI.encode()


# --- where the browser lands -------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
def test_hostile_next_through_the_implicit_flow_lands_on_the_default_page(
    client, ada, mocked, hostile
):
    client.force_login(ada)
    implicit_scf(mocked)
    with provider_apps(secret=""):
        _, params = start(client, next_url=hostile)
        response = finish_at(client, "relay", params["state"])
    assert response.status_code == 302
    assert response["Location"] == "/accounts/3rdparty/"


@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
def test_hostile_next_on_disconnect_lands_on_the_status_page(client, ada, hostile):
    client.force_login(ada)
    response = client.post(reverse("seeclickfix:disconnect"), {"next": hostile})
    assert response.status_code == 302
    assert response["Location"] == reverse("seeclickfix:status")


def _outcomes() -> list[str]:
    return [
        "success",
        "bad-state",
        "cancelled",
        "token-refused",
        "profile-null",
        "linked-elsewhere",
    ]


@pytest.mark.parametrize("endpoint", ["callback", "relay"])
@pytest.mark.parametrize("outcome", _outcomes())
def test_every_outcome_is_uncacheable_unreferred_and_lands_without_secrets(
    client, ada, bob, mocked, endpoint, outcome
):
    """Whatever happens on the callback or the relay: ``Referrer-Policy: no-referrer``,
    ``Cache-Control: no-store``, and a redirect target free of code, state and tokens."""
    if outcome == "linked-elsewhere":
        SeeClickFixAccount.objects.create(user=bob, environment="production", user_scf_id=1001)
    client.force_login(ada)
    mock_scf(
        mocked,
        token={"error": "invalid_grant"} if outcome == "token-refused" else None,
        token_status=400 if outcome == "token-refused" else 200,
        profile={"id": None} if outcome == "profile-null" else None,
    )
    mocked.add(
        responses.GET,
        INFO_URL,
        status=401 if outcome == "token-refused" else 200,
        json={"application": {"uid": CLIENT_ID}},
    )
    with flow_apps(endpoint):
        _, params = start(client, next_url="/after/")
        state = "forged" if outcome == "bad-state" else params["state"]
        extra = {"error": "access_denied"} if outcome == "cancelled" else {}
        if endpoint == "callback":
            response = callback(client, state, code="the-code-123", **extra)
        else:
            response = finish_at(client, "relay", state, access_token="at-1", **extra)
    assert_secure_headers(response)
    assert response.status_code < 500
    location = response.get("Location", "")
    for leak in ("code", "state", "token", params["state"], "the-code-123", "at-1", "rt-1"):
        assert leak not in location
    if outcome == "success":
        assert location == "/after/"
    else:
        assert not SeeClickFixAccount.objects.filter(user=ada).exists()


def test_relay_page_itself_is_uncacheable_unreferred_and_first_party(client):
    page = client.get(reverse("seeclickfix_relay") + "?irrelevant=1")
    assert page.status_code == 200
    assert_secure_headers(page)
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_headless_error_redirect_carries_only_the_error(client, ada, bob, mocked):
    SeeClickFixAccount.objects.create(user=bob, environment="production", user_scf_id=1001)
    client.force_login(ada)
    mock_scf(mocked)
    response = client.post(
        "/_allauth/browser/v1/auth/provider/redirect",
        {
            "provider": "seeclickfix",
            "callback_url": "http://testserver/app/x",
            "process": "connect",
        },
    )
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    done = callback(client, state, code="the-code-123")
    assert done.status_code == 302
    assert_secure_headers(done)
    query = parse_qs(urlsplit(done["Location"]).query)
    assert set(query) <= {"error", "error_process"}
    assert state not in done["Location"]
    assert "the-code-123" not in done["Location"]


# --- what the token endpoint answers, over real sockets ----------------------------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("reset", {}),
        ("truncate", {}),
        ("malformed_json", {}),
        ("latency", {"delay": 1.5}),
        ("error", {"status": 503}),
        ("status", {"status": 200, "body": {"token_type": "Bearer"}}),
        ("status", {"status": 200, "body": "<html>Maintenance</html>"}),
        ("redirect", {"location": "https://evil.example/oauth/token"}),
    ],
    ids=[
        "reset",
        "truncated",
        "malformed-json",
        "timeout",
        "5xx",
        "no-access-token",
        "html",
        "cross-host-redirect",
    ],
)
def test_token_endpoint_failures_link_nothing_and_show_a_generic_error(
    client, ada, scf_emulator, kind, params
):
    from django_seeclickfix.testing.configure import emulator_settings

    with override_settings(**emulator_settings(scf_emulator, READ_TIMEOUT=0.5)):
        client.force_login(ada)
        response, _ = start(client)
        back = scf_emulator.complete_authorization(response["Location"], "resident")
        scf_emulator.faults.add("^/oauth/token$", kind, **params)
        parts = urlsplit(back)
        done = client.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})
    assert done.status_code == 400
    assert "did not complete the sign-in" in done.content.decode()
    assert_secure_headers(done)
    assert not scf_emulator.requests("/api/v2/profile")
    assert links() == 0


@pytest.mark.parametrize("token", ["t\u00f8ken\u2603", "tok en", "tok\x7fen"])
def test_relay_token_that_cannot_be_sent_links_nothing_and_never_500(
    client, ada, scf_emulator, token
):
    """Over real sockets: a fragment token outside visible ASCII would raise
    UnicodeEncodeError in http.client when checked at SeeClickFix; it is refused first."""
    from django_seeclickfix.testing.configure import emulator_settings

    scf_emulator.register_app("scf-emulator-implicit", None, [RELAY_URI])
    settings = emulator_settings(scf_emulator, client_id="scf-emulator-implicit", secret=None)
    with override_settings(**settings):
        client.force_login(ada)
        _, params = start(client)
        response = finish_at(client, "relay", params["state"], access_token=token)
    assert response.status_code == 400
    assert_secure_headers(response)
    assert not scf_emulator.requests()
    assert links() == 0


def test_relay_scope_is_stored_as_printable_ascii(client, ada, mocked):
    """A NUL in the fragment's scope made PostgreSQL refuse the row (a 500 on the relay)."""
    client.force_login(ada)
    implicit_scf(mocked)
    with provider_apps(secret=""):
        _, params = start(client)
        response = finish_at(client, "relay", params["state"], scope="read\x00 write\u2603")
    assert response.status_code == 302
    assert SeeClickFixAccount.objects.get().scope == "read write"


def _as_a_browser_reads_it(location: str) -> str:
    """What a WHATWG URL parser makes of a Location relative to the site: C0 controls and
    spaces trimmed at both ends, tabs and newlines removed anywhere, backslash read as slash."""
    trimmed = location.strip("".join(chr(c) for c in range(0x21)))
    cleaned = "".join(ch for ch in trimmed if ch not in "\t\n\r").replace("\\", "/")
    return urljoin("https://site.example/accounts/", cleaned)


@hypothesis_settings(max_examples=fuzz_cases(1000), deadline=None)
@given(
    next_url=st.one_of(
        st.text(max_size=30),
        st.from_regex(r"\A[ \t\r\n/\\]{0,4}([a-zA-Z]{1,10}:)?[ \t/\\]{0,4}evil\.example\Z"),
        st.sampled_from(HOSTILE_NEXT),
        st.builds(lambda a, b: f"/{a}/{b}", st.text(max_size=8), st.text(max_size=8)),
    )
)
def test_next_is_only_ever_a_path_on_this_site(next_url):
    """Property over any ``next``: what the flow keeps resolves, in a browser, to this site."""
    kept = flow.safe_next(None, next_url, headless=False)  # type: ignore[arg-type]
    if kept is None:
        return
    assert kept.startswith("/")
    assert urlsplit(_as_a_browser_reads_it(kept)).netloc == "site.example"
