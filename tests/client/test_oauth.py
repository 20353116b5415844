"""OAuthClient against a mocked Doorkeeper."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import override_settings
from responses import matchers

from django_seeclickfix.client import ApiSession, MemoryStore, OAuthClient, RateBudget
from django_seeclickfix.exceptions import OAuthError, RateLimited, ReauthRequired, TransientError

from .conftest import BASE

SECRET = "client-secret-XYZ"
CODE = "auth-code-123"
VERIFIER = "pkce-verifier-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def budget():
    return RateBudget(100, 60, store=MemoryStore(), max_wait=0.1)


@pytest.fixture
def oauth(budget):
    return OAuthClient(BASE, "cid", SECRET, session=ApiSession(budget=budget))


TOKEN_BODY = {
    "access_token": "at-1",
    "token_type": "Bearer",
    "expires_in": 7200,
    "refresh_token": "rt-1",
    "scope": "",
    "created_at": 1700000000,
}


def token_endpoint(rsps, body, status=200):
    """Answer /oauth/token and keep each form as sent (the session scrubs it afterwards)."""
    forms = []

    def reply(request):
        forms.append({k: v[0] for k, v in parse_qs(request.body).items()})
        forms[-1]["_authorization"] = request.headers.get("Authorization")
        return status, {"Cache-Control": "no-store"}, json.dumps(body)

    rsps.add_callback("POST", f"{BASE}/oauth/token", callback=reply)
    return forms


def test_urls_derive_from_the_base_url_at_call_time():
    with override_settings(SEECLICKFIX={"ENVIRONMENT": "test"}):
        client = OAuthClient(None, "cid")
        assert client.token_url == "https://test.seeclickfix.com/oauth/token"
        with override_settings(
            SEECLICKFIX={"ENVIRONMENT": "emulator", "BASE_URL": "http://127.0.0.1:8001"}
        ):
            assert client.authorize_url == "http://127.0.0.1:8001/oauth/authorize"
            assert client.revoke_url == "http://127.0.0.1:8001/oauth/revoke"
            assert client.token_info_url == "http://127.0.0.1:8001/oauth/token/info"
    with pytest.raises(ValueError, match="client_id"):
        OAuthClient(BASE, "")


def test_authorization_url_with_pkce():
    url = OAuthClient(BASE, "cid").authorization_url(
        "https://site/cb", "st", code_challenge="chal", scope="read"
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}/oauth/authorize"
    assert parse_qs(parts.query) == {
        "client_id": ["cid"],
        "redirect_uri": ["https://site/cb"],
        "response_type": ["code"],
        "state": ["st"],
        "code_challenge": ["chal"],
        "code_challenge_method": ["S256"],
        "scope": ["read"],
    }


def test_exchange_code_sends_client_auth_in_the_body(rsps, oauth, budget):
    forms = token_endpoint(rsps, TOKEN_BODY)
    token = oauth.exchange_code(CODE, "https://site/cb", VERIFIER)
    assert forms == [
        {
            "grant_type": "authorization_code",
            "code": CODE,
            "redirect_uri": "https://site/cb",
            "code_verifier": VERIFIER,
            "client_id": "cid",
            "client_secret": SECRET,
            "_authorization": None,
        }
    ]
    assert rsps.calls[0].request.body == "[redacted]"  # what errors and debuggers would see
    assert rsps.calls[0].request.headers["User-Agent"].startswith("django-seeclickfix/")
    assert (token.access_token, token.refresh_token, token.expires_in) == ("at-1", "rt-1", 7200)
    assert token.scope is None  # blank fields count as absent
    assert token.created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert token.expires_at(now) == now + timedelta(seconds=7200)
    assert budget.stats.acquired == 1  # the same budget as the API


def test_token_response_hides_tokens(rsps, oauth):
    rsps.post(f"{BASE}/oauth/token", json=TOKEN_BODY)
    token = oauth.exchange_code(CODE, "https://site/cb")
    assert "at-1" not in repr(token)
    assert "rt-1" not in repr(token)
    assert "access_token" not in token.raw
    assert "refresh_token" not in token.raw
    assert token.raw["expires_in"] == 7200
    assert SECRET not in repr(oauth)


def test_token_without_expiry_or_refresh_token(rsps, oauth):
    rsps.post(f"{BASE}/oauth/token", json={"access_token": "forever", "token_type": "Bearer"})
    token = oauth.exchange_code(CODE, "https://site/cb")
    assert token.expires_in is None
    assert token.refresh_token is None
    assert token.expires_at(datetime.now(UTC)) is None


def test_public_client_sends_no_secret(rsps, budget):
    forms = token_endpoint(rsps, TOKEN_BODY)
    OAuthClient(BASE, "cid", session=ApiSession(budget=budget)).exchange_code(CODE, "https://cb")
    assert "client_secret" not in forms[0]


def test_refresh(rsps, oauth):
    forms = token_endpoint(rsps, dict(TOKEN_BODY, access_token="at-2", refresh_token="rt-2"))
    token = oauth.refresh("rt-1")
    assert forms[0]["grant_type"] == "refresh_token"
    assert forms[0]["refresh_token"] == "rt-1"
    assert token.refresh_token == "rt-2"


def test_invalid_grant_needs_reauth(rsps, oauth, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.post(
        f"{BASE}/oauth/token",
        status=400,
        json={
            "error": "invalid_grant",
            "error_description": "The provided authorization grant is invalid, expired, revoked.",
        },
    )
    with pytest.raises(ReauthRequired) as caught:
        oauth.refresh("rt-secret-value")
    assert "rt-secret-value" not in str(caught.value)
    assert "rt-secret-value" not in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            "invalid_client",
        ),
        (400, {"error": "invalid_request"}, "invalid_request"),
        (400, {"error": "unsupported_grant_type"}, "unsupported_grant_type"),
        (404, None, "invalid_response"),
        (400, {"error": "<script>"}, "invalid_response"),
    ],
)
def test_other_oauth_errors(rsps, oauth, status, body, code):
    rsps.post(f"{BASE}/oauth/token", status=status, json=body)
    with pytest.raises(OAuthError) as caught:
        oauth.exchange_code(CODE, "https://cb")
    assert caught.value.error == code
    assert caught.value.status == status
    assert CODE not in str(caught.value)
    assert caught.value.response.request.body == "[redacted]"


def test_error_description_echoing_a_secret_is_redacted(rsps, oauth):
    rsps.post(
        f"{BASE}/oauth/token",
        status=400,
        json={"error": "invalid_request", "error_description": f"bad code {CODE}"},
    )
    with pytest.raises(OAuthError) as caught:
        oauth.exchange_code(CODE, "https://cb")
    assert CODE not in str(caught.value)
    assert "[redacted]" in str(caught.value)


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 500, "body": "oops"},
        {"status": 503, "json": {"error": "temporarily_unavailable"}},
        {"status": 200, "body": "<html>not json</html>"},
        {"body": requests.ConnectionError("reset")},
        {"body": requests.ReadTimeout("slow")},
    ],
)
def test_transient_failures(rsps, oauth, reply):
    rsps.post(f"{BASE}/oauth/token", **reply)
    with pytest.raises(TransientError):
        oauth.refresh("rt")


def test_200_without_access_token_is_invalid_response(rsps, oauth):
    rsps.post(f"{BASE}/oauth/token", json={"token_type": "Bearer"})
    with pytest.raises(OAuthError) as caught:
        oauth.refresh("rt")
    assert caught.value.error == "invalid_response"
    rsps.post(f"{BASE}/oauth/token", json=["not", "an", "object"])
    with pytest.raises(OAuthError, match="JSON object"):
        oauth.refresh("rt")


def test_429_pauses_the_budget(rsps, oauth, budget):
    rsps.post(f"{BASE}/oauth/token", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited):
        oauth.refresh("rt")
    assert budget.paused_for() > 25


def test_revoke_succeeds_for_known_and_unknown_tokens(rsps, oauth):
    rsps.post(
        f"{BASE}/oauth/revoke",
        json={},
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "token": "at-1",
                    "token_type_hint": "access_token",
                    "client_id": "cid",
                    "client_secret": SECRET,
                }
            )
        ],
    )
    assert oauth.revoke("at-1", "access_token") is None


def test_revoke_errors(rsps, oauth):
    rsps.post(f"{BASE}/oauth/revoke", status=502)
    with pytest.raises(TransientError):
        oauth.revoke("at-1")
    rsps.replace("POST", f"{BASE}/oauth/revoke", status=403, json={"error": "unauthorized_client"})
    with pytest.raises(OAuthError) as caught:
        oauth.revoke("at-1")
    assert caught.value.error == "unauthorized_client"


def test_token_info(rsps, oauth):
    info = {
        "resource_owner_id": 5,
        "scope": [],
        "expires_in": 100,
        "application": {"uid": "cid"},
        "created_at": 1700000000,
    }
    seen = []

    def reply(request):
        seen.append(request.headers["Authorization"])
        return 200, {}, json.dumps(info)

    rsps.add_callback("GET", f"{BASE}/oauth/token/info", callback=reply)
    assert oauth.token_info("at-1") == info
    assert seen == ["Bearer at-1"]


def test_token_info_for_a_dead_token(rsps, oauth):
    rsps.get(f"{BASE}/oauth/token/info", status=401, json={"error": "invalid_token"})
    with pytest.raises(ReauthRequired):
        oauth.token_info("at-dead")
    rsps.replace("GET", f"{BASE}/oauth/token/info", json=[1])
    with pytest.raises(TransientError):
        oauth.token_info("at-1")
    rsps.replace("GET", f"{BASE}/oauth/token/info", status=400, json={"error": "invalid_request"})
    with pytest.raises(OAuthError):
        oauth.token_info("at-1")
