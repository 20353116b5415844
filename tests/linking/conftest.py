"""Fixtures for the linking tests: settings pointed at a fake host, a mocked SeeClickFix."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

HOST = "https://seeclickfix.com"
TOKEN_URL = f"{HOST}/oauth/token"
REVOKE_URL = f"{HOST}/oauth/revoke"
INFO_URL = f"{HOST}/oauth/token/info"
PROFILE_URL = f"{HOST}/api/v2/profile"
KEY = settings.SEECLICKFIX["TOKEN_KEYS"][0]
CLIENT_ID = "test-client-id"
SECRET = "test-client-secret"
CALLBACK_URI = "http://testserver/accounts/seeclickfix/login/callback/"
RELAY_URI = "http://testserver/accounts/seeclickfix/login/relay/"

BASE_SETTINGS = {
    "TOKEN_KEYS": [KEY],
    "SITE_URL": "http://testserver",
    "RATE_LIMIT_REQUESTS": 100000,
}


def scf_settings(**extra):
    return override_settings(SEECLICKFIX={**BASE_SETTINGS, **extra})


def provider_apps(secret=SECRET):
    return override_settings(
        SOCIALACCOUNT_PROVIDERS={
            "seeclickfix": {"APPS": [{"client_id": CLIENT_ID, "secret": secret}]}
        }
    )


@pytest.fixture(autouse=True)
def _linking_settings():
    cache.clear()
    with scf_settings():
        yield
    cache.clear()


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", email="ada@site.example", password="pw")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", email="bob@site.example", password="pw")


def assert_secure_headers(response):
    """What every callback and relay response carries (no referrer, no caching)."""
    assert response["Referrer-Policy"] == "no-referrer", response
    assert "no-store" in response["Cache-Control"], response


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def profile_body(scf_id=1001, name="Ada Lovelace", email="ada@example.org"):
    return {
        "id": scf_id,
        "name": name,
        "email": email,
        "avatar": {"full": "https://img.example/a.png", "square_100x100": None},
        "civic_points": 10,
        "permissions": {"can_acknowledge": False},
        "created_at": "2011-03-22T17:04:31-04:00",
        "updated_at": "2014-03-10T07:28:35-04:00",
    }


def token_body(access="at-1", refresh="rt-1", expires_in=7200):
    body = {"access_token": access, "token_type": "Bearer", "created_at": 1700000000}
    if refresh:
        body["refresh_token"] = refresh
    if expires_in is not None:
        body["expires_in"] = expires_in
    return body


class TokenEndpoint:
    """A mocked /oauth/token that keeps each request's form (the client scrubs it afterwards)."""

    def __init__(self, rsps, body=None, status=200):
        self.forms = []
        self.body = body if body is not None else token_body()
        self.status = status
        rsps.add_callback(responses.POST, TOKEN_URL, callback=self)

    def __call__(self, request):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        self.forms.append({k: v[0] for k, v in parse_qs(body or "").items()})
        payload = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return self.status, {"Content-Type": "application/json"}, payload


def mock_scf(rsps, *, token=None, profile=None, token_status=200, profile_status=200):
    endpoint = TokenEndpoint(rsps, token, token_status)
    endpoint.profile_headers = []
    profile_json = json.dumps(profile if profile is not None else profile_body())

    def answer_profile(request):
        endpoint.profile_headers.append(dict(request.headers))
        return profile_status, {"Content-Type": "application/json"}, profile_json

    rsps.add_callback(responses.GET, PROFILE_URL, callback=answer_profile)
    return endpoint


def calls_to(rsps, url):
    return [c for c in rsps.calls if c.request.url.split("?")[0] == url]


def start(client, process="connect", next_url=None, **extra):
    data = {"process": process, **extra}
    if next_url is not None:
        data["next"] = next_url
    response = client.post(reverse("seeclickfix_login"), data)
    assert response.status_code == 302, response.content[:500]
    location = urlsplit(response["Location"])
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    return response, params


def callback(client, state, code="the-code", **extra):
    query = {"state": state, "code": code, **extra}
    return client.get(reverse("seeclickfix_callback"), {k: v for k, v in query.items() if v})


def as_json(call):
    return json.loads(call.request.body)
