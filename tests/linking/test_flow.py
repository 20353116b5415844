"""The OAuth flow through the Django test client, SeeClickFix mocked with ``responses``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse

from django_seeclickfix.models import SeeClickFixAccount
from django_seeclickfix.signals import account_linked

from .conftest import (
    CALLBACK_URI,
    CLIENT_ID,
    INFO_URL,
    PROFILE_URL,
    RELAY_URI,
    SECRET,
    TOKEN_URL,
    assert_secure_headers,
    callback,
    calls_to,
    mock_scf,
    profile_body,
    provider_apps,
    scf_settings,
    start,
    token_body,
)

pytestmark = pytest.mark.django_db


def assert_clean_redirect(response):
    location = response["Location"]
    for word in ("code=", "state=", "access_token", "at-1", "rt-1"):
        assert word not in location


def assert_nothing_linked():
    assert SeeClickFixAccount.objects.count() == 0
    assert SocialAccount.objects.count() == 0


# --- code flow ---------------------------------------------------------------------------------


def test_connect_code_flow_with_pkce_links_and_encrypts(client, ada, mocked):
    client.force_login(ada)
    endpoint = mock_scf(mocked)
    response, params = start(client, next_url="/after/")
    assert_secure_headers(response)
    assert response["Location"].startswith("https://seeclickfix.com/oauth/authorize?")
    assert params["client_id"] == CLIENT_ID
    assert params["response_type"] == "code"
    assert params["redirect_uri"] == CALLBACK_URI
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 43  # 256 bits, url-safe base64
    assert "code_verifier" not in response["Location"]
    with_commit = callback(client, params["state"])
    assert with_commit.status_code == 302
    assert with_commit["Location"] == "/after/"
    assert_secure_headers(with_commit)
    assert_clean_redirect(with_commit)

    (form,) = endpoint.forms
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == "the-code"
    assert form["redirect_uri"] == params["redirect_uri"]  # byte-identical
    assert form["client_id"] == CLIENT_ID
    assert form["client_secret"] == SECRET
    import base64
    import hashlib

    challenge = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"].encode()).digest())
    assert challenge.rstrip(b"=").decode() == params["code_challenge"]
    (profile_headers,) = endpoint.profile_headers
    assert profile_headers["Authorization"] == "Bearer at-1"
    assert profile_headers["User-Agent"].startswith("django-seeclickfix/")

    account = SeeClickFixAccount.objects.get()
    assert account.user == ada
    assert account.user_scf_id == 1001
    assert account.environment == "production"
    assert account.access_token == "at-1"
    assert account.refresh_token == "rt-1"
    assert account.expires_at is not None
    assert account.status == "active"
    assert account.profile["name"] == "Ada Lovelace"
    assert account.social_account.uid == "1001"
    assert account.social_account.user == ada
    # allauth's own token storage stays empty.
    from allauth.socialaccount.models import SocialToken

    assert SocialToken.objects.count() == 0
    # The session never holds the tokens or the PKCE verifier.
    session_blob = str(dict(client.session))
    assert "at-1" not in session_blob
    assert form["code_verifier"] not in session_blob


def test_account_linked_signal_fires_after_commit(
    client, ada, mocked, django_capture_on_commit_callbacks
):
    client.force_login(ada)
    mock_scf(mocked)
    seen = []

    def receiver(**kwargs):
        seen.append(kwargs)

    account_linked.connect(receiver, dispatch_uid="t-linked")
    try:
        _, params = start(client)
        with django_capture_on_commit_callbacks(execute=True):
            callback(client, params["state"])
    finally:
        account_linked.disconnect(dispatch_uid="t-linked")
    (sent,) = seen
    assert sent["created"] is True
    assert sent["user"] == ada
    assert sent["account"].user_scf_id == 1001


# The whole connect callback, what runs after commit included: allauth's queries (the app
# lookup twice, the state's session save and reload, the user, its social account) and the
# app's: the pre-check (2 reads), one locking read, the user's owed revocations (locked), the
# insert and their savepoints. No account is read again for the account_linked signal.
# benchmarks/RESULTS.md reports the same count.
CONNECT_CALLBACK_QUERIES = 25


def test_connect_callback_query_count(
    client, ada, mocked, django_capture_on_commit_callbacks, published
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    linked = []
    account_linked.connect(lambda **kw: linked.append(kw), weak=False, dispatch_uid="t-count")
    try:
        with (
            CaptureQueriesContext(connection) as captured,
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = callback(client, params["state"])
    finally:
        account_linked.disconnect(dispatch_uid="t-count")
    assert response.status_code == 302
    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) == CONNECT_CALLBACK_QUERIES, "\n".join(sql)
    ours = [q for q in sql if "seeclickfix_seeclickfixaccount" in q]
    assert len(ours) == 3, ours  # pre-check, locking read, insert
    (sent,) = linked
    assert sent["account"].user == ada
    assert published == [("django_seeclickfix.tasks.sync_account", [sent["account"].pk])]


def test_login_existing_link_logs_in_and_updates_tokens_in_place(client, ada, mocked):
    client.force_login(ada)
    endpoint = mock_scf(mocked)
    _, params = start(client)
    callback(client, params["state"])
    first = SeeClickFixAccount.objects.get()
    client.logout()

    endpoint.body = token_body(access="at-2", refresh="rt-2")
    _, params = start(client, process="login", next_url="/home/")
    response = callback(client, params["state"])
    assert response.status_code == 302
    assert response["Location"] == "/home/"
    assert int(client.session["_auth_user_id"]) == ada.pk
    again = SeeClickFixAccount.objects.get()
    assert again.pk == first.pk
    assert again.access_token == "at-2"
    assert again.refresh_token == "rt-2"
    assert again.token_version > first.token_version
    assert SocialAccount.objects.count() == 1


def test_signup_through_seeclickfix_creates_user_and_link(client, mocked):
    mock_scf(mocked, profile=profile_body(scf_id=77, name="Grace Hopper", email="g@example.org"))
    _, params = start(client, process="login")
    response = callback(client, params["state"])
    assert response.status_code == 302
    user = get_user_model().objects.get()
    assert int(client.session["_auth_user_id"]) == user.pk
    account = SeeClickFixAccount.objects.get()
    assert account.user == user
    assert account.user_scf_id == 77
    assert account.access_token == "at-1"
    # The address from SeeClickFix is never taken as verified.
    from allauth.account.models import EmailAddress

    assert not EmailAddress.objects.filter(verified=True).exists()


def test_never_links_or_logs_in_by_email(client, ada, mocked):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=ada, email="ada@example.org", verified=True, primary=True)
    mock_scf(mocked, profile=profile_body(email="ada@example.org"))
    with override_settings(
        SOCIALACCOUNT_EMAIL_AUTHENTICATION=True,
        SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT=True,
    ):
        _, params = start(client, process="login")
        response = callback(client, params["state"])
    # Not logged in as ada, and ada's account got no SeeClickFix link.
    assert client.session.get("_auth_user_id") != str(ada.pk)
    assert not SeeClickFixAccount.objects.filter(user=ada).exists()
    assert not SocialAccount.objects.filter(user=ada).exists()
    assert response.status_code in (200, 302)


def test_relink_same_account_updates_in_place(client, ada, mocked):
    client.force_login(ada)
    endpoint = mock_scf(mocked)
    _, params = start(client)
    callback(client, params["state"])
    first = SeeClickFixAccount.objects.get()
    endpoint.body = token_body(access="at-9", refresh=None, expires_in=None)
    _, params = start(client)
    response = callback(client, params["state"])
    assert response.status_code == 302
    again = SeeClickFixAccount.objects.get()
    assert again.pk == first.pk
    assert again.access_token == "at-9"
    assert again.refresh_token is None
    assert again.expires_at is None
    assert SocialAccount.objects.count() == 1


def test_account_linked_to_another_user_is_refused_and_nothing_changes(client, ada, bob, mocked):
    client.force_login(ada)
    endpoint = mock_scf(mocked)
    _, params = start(client)
    callback(client, params["state"])
    before = SeeClickFixAccount.objects.values_list("pk", "user_id", "token_version").get()
    ada_social = SocialAccount.objects.get()

    client.force_login(bob)
    endpoint.body = token_body(access="bob-at")
    _, params = start(client)
    response = callback(client, params["state"])
    assert response.status_code == 409
    assert "already connected to another user" in response.content.decode()
    assert_secure_headers(response)
    assert SeeClickFixAccount.objects.values_list("pk", "user_id", "token_version").get() == before
    assert SeeClickFixAccount.objects.get().access_token == "at-1"
    assert list(SocialAccount.objects.all()) == [ada_social]
    assert SocialAccount.objects.get().extra_data["name"] == "Ada Lovelace"


def test_second_seeclickfix_account_for_same_user_is_refused(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    callback(client, params["state"])
    mocked.replace(responses.GET, PROFILE_URL, json=profile_body(scf_id=2002))
    _, params = start(client)
    response = callback(client, params["state"])
    assert response.status_code == 409
    assert "different SeeClickFix account" in response.content.decode()
    assert SeeClickFixAccount.objects.get().user_scf_id == 1001
    assert SocialAccount.objects.count() == 1


def test_database_constraint_holds_without_the_views(ada, bob):
    from django.db import IntegrityError, transaction

    SeeClickFixAccount.objects.create(user=ada, environment="production", user_scf_id=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        SeeClickFixAccount.objects.create(user=bob, environment="production", user_scf_id=5)


# --- cancellation and state --------------------------------------------------------------------


def test_cancel_makes_no_token_request_and_consumes_state(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    response = client.get(
        reverse("seeclickfix_callback"), {"state": params["state"], "error": "access_denied"}
    )
    # The library's own page, not allauth's "Login Cancelled … logging in" (issue 16, #7).
    assert response.status_code == 200
    assert "You cancelled the SeeClickFix sign-in. Nothing was connected." in response.text
    assert "Login Cancelled" not in response.text
    assert not calls_to(mocked, TOKEN_URL)
    # The state is gone: a code arriving with it afterwards is refused.
    replay = callback(client, params["state"])
    assert replay.status_code == 400
    assert not calls_to(mocked, TOKEN_URL)
    assert_nothing_linked()


@pytest.mark.parametrize(
    "state",
    [None, "forged-state-value", "x" * 500],
    ids=["missing", "forged", "oversized"],
)
def test_missing_or_forged_state_makes_no_token_request(client, ada, mocked, state):
    client.force_login(ada)
    mock_scf(mocked)
    start(client)  # a real state exists in the session, but is not the one sent
    response = callback(client, state)
    assert response.status_code == 400
    assert_secure_headers(response)
    assert "invalid or has expired" in response.content.decode()
    assert not calls_to(mocked, TOKEN_URL)
    assert_nothing_linked()


# --- what SeeClickFix answers ------------------------------------------------------------------


def test_profile_with_null_id_stores_nothing(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked, profile={"id": None})
    _, params = start(client)
    response = callback(client, params["state"])
    assert response.status_code == 400
    assert "did not confirm who you are" in response.content.decode()
    assert_nothing_linked()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_grant", "error_description": "code expired"}),
        (500, {"error": "boom"}),
        (200, {"token_type": "Bearer"}),
        (200, "not json at all"),
    ],
    # invalid_client and the other misconfigurations: test_site_faults.py
    ids=["invalid_grant", "5xx", "no-token", "not-json"],
)
def test_failed_token_exchange_links_nothing(client, ada, mocked, status, body):
    client.force_login(ada)
    mock_scf(mocked, token=body, token_status=status)
    _, params = start(client)
    response = callback(client, params["state"])
    assert response.status_code == 400
    assert "did not complete the sign-in" in response.content.decode()
    assert not calls_to(mocked, PROFILE_URL)
    assert_nothing_linked()


def test_profile_failure_links_nothing(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked, profile={"message": "down"}, profile_status=503)
    _, params = start(client)
    response = callback(client, params["state"])
    assert response.status_code == 400
    assert_nothing_linked()


# --- starting the flow -------------------------------------------------------------------------


def test_get_does_not_start_the_flow(client, ada):
    client.force_login(ada)
    response = client.get(reverse("seeclickfix_login"), {"process": "connect"})
    # allauth's confirmation page (a POST form), not a redirect to SeeClickFix.
    assert response.status_code == 200
    assert "seeclickfix.com" not in response.content.decode()
    assert "socialaccount_states" not in client.session


def test_get_with_login_on_get_is_still_refused(client, ada):
    client.force_login(ada)
    with override_settings(SOCIALACCOUNT_LOGIN_ON_GET=True):
        response = client.get(reverse("seeclickfix_login"), {"process": "connect"})
    assert response.status_code == 405
    assert "socialaccount_states" not in client.session


def test_anonymous_users_cannot_start_a_connect(client):
    response = client.post(reverse("seeclickfix_login"), {"process": "connect"})
    assert response.status_code == 403
    assert "socialaccount_states" not in client.session


def test_start_requires_csrf(ada):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(ada)
    response = strict.post(reverse("seeclickfix_login"), {"process": "connect"})
    assert response.status_code == 403


def test_query_string_cannot_add_scope_or_params(client, ada):
    client.force_login(ada)
    response = client.post(
        reverse("seeclickfix_login") + "?scope=admin&auth_params=redirect_uri%3Dhttps://evil",
        {"process": "connect"},
    )
    params = parse_qs(urlsplit(response["Location"]).query)
    assert "scope" not in params
    assert params["redirect_uri"] == [CALLBACK_URI]


def test_redirect_uri_comes_from_settings_not_the_host_header(client, ada):
    client.force_login(ada)
    with override_settings(ALLOWED_HOSTS=["*"]):
        response = client.post(
            reverse("seeclickfix_login"), {"process": "connect"}, HTTP_HOST="evil.example"
        )
    params = parse_qs(urlsplit(response["Location"]).query)
    assert params["redirect_uri"] == [CALLBACK_URI]


@pytest.mark.parametrize(
    "hostile",
    [
        "https://evil.example/",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nLocation: https://evil.example",
        "/tab\tthere",
    ],
)
def test_hostile_next_lands_on_the_default_page(client, ada, mocked, hostile):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client, next_url=hostile)
    response = callback(client, params["state"])
    assert response.status_code == 302
    location = response["Location"]
    assert "evil" not in location
    assert not location.startswith("javascript")
    assert location == "/accounts/3rdparty/"  # allauth's connections page, the connect default


# --- implicit flow -----------------------------------------------------------------------------


def relay_post(client, **fields):
    return client.post(reverse("seeclickfix_relay"), fields)


def test_implicit_flow_relay_page_and_post(client, ada, mocked):
    client.force_login(ada)
    mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    mocked.add(
        responses.GET,
        INFO_URL,
        json={"resource_owner_id": 1001, "application": {"uid": CLIENT_ID}, "expires_in": 7200},
    )
    with provider_apps(secret=""):
        _, params = start(client, next_url="/after/")
        assert params["response_type"] == "token"
        assert params["redirect_uri"] == RELAY_URI
        assert "code_challenge" not in params

        page = client.get(reverse("seeclickfix_relay"))
        assert page.status_code == 200
        assert_secure_headers(page)
        csp = page["Content-Security-Policy"]
        assert "default-src 'none'" in csp
        nonce = csp.split("'nonce-")[1].split("'")[0]
        html = page.content.decode()
        assert f'<script nonce="{nonce}">' in html
        assert "history.replaceState" in html
        # After clearing the address the page allows a same-origin referrer, so the POST carries
        # a real Origin (under no-referrer browsers send "Origin: null" and CSRF refuses it).
        assert html.index("replaceState") < html.index('"same-origin"') < html.index("submit()")
        assert "csrfmiddlewaretoken" in html
        for marker in ("src=", "href=", "<link", "<img", "@import"):
            assert marker not in html  # nothing loaded from anywhere

        response = relay_post(
            client,
            state=params["state"],
            access_token="implicit-at",
            token_type="Bearer",
            expires_in="7200",
        )
    assert response.status_code == 302
    assert response["Location"] == "/after/"
    assert_secure_headers(response)
    assert not calls_to(mocked, TOKEN_URL)
    account = SeeClickFixAccount.objects.get()
    assert account.access_token == "implicit-at"
    assert account.refresh_token is None
    assert account.expires_at is not None


def test_implicit_flow_refuses_a_token_issued_to_another_app(client, ada, mocked):
    client.force_login(ada)
    mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    mocked.add(responses.GET, INFO_URL, json={"application": {"uid": "someone-else"}})
    with provider_apps(secret=""):
        _, params = start(client)
        response = relay_post(client, state=params["state"], access_token="stolen")
    assert response.status_code == 400
    assert not calls_to(mocked, PROFILE_URL)
    assert_nothing_linked()


@pytest.mark.parametrize(
    "info",
    [
        {"status": 404},
        {"json": {"resource_owner_id": 1001}},  # no application
        {"json": {"resource_owner_id": 1001, "application": {}}},
    ],
    ids=["404", "no-application", "no-uid"],
)
def test_implicit_flow_refuses_a_token_whose_app_is_unknown(client, ada, mocked, info):
    """Fails closed by default (issue 16, #8): a token that cannot be proven ours is refused."""
    client.force_login(ada)
    mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    mocked.add(responses.GET, INFO_URL, **info)
    with provider_apps(secret=""):
        _, params = start(client)
        response = relay_post(client, state=params["state"], access_token="implicit-at")
    assert response.status_code == 400
    assert not calls_to(mocked, PROFILE_URL)
    assert_nothing_linked()


@pytest.mark.parametrize("info", [{"status": 404}, {"json": {"resource_owner_id": 1001}}])
def test_implicit_flow_without_token_info_works_when_the_site_accepts_it(client, ada, mocked, info):
    client.force_login(ada)
    mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    mocked.add(responses.GET, INFO_URL, **info)
    with provider_apps(secret=""), scf_settings(IMPLICIT_AUDIENCE_CHECK="when_available"):
        _, params = start(client)
        response = relay_post(client, state=params["state"], access_token="implicit-at")
    assert response.status_code == 302
    assert SeeClickFixAccount.objects.get().access_token == "implicit-at"


@pytest.mark.parametrize(
    "fields",
    [
        {"access_token": ""},
        {"access_token": "x", "token_type": "mac"},
        {"access_token": "x", "expires_in": "soon"},
        {"access_token": "x", "expires_in": "-5"},
        {"access_token": "bad token with spaces"},
        {"error": "access_denied"},
    ],
)
def test_implicit_flow_bad_fragments_link_nothing(client, ada, mocked, fields):
    client.force_login(ada)
    mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    with provider_apps(secret=""):
        _, params = start(client)
        response = relay_post(client, state=params["state"], **fields)
    assert response.status_code in (200, 400)  # a deny shows its page with 200
    assert not calls_to(mocked, PROFILE_URL)
    assert_nothing_linked()


def test_implicit_relay_checks_state(client, ada, mocked):
    client.force_login(ada)
    mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    with provider_apps(secret=""):
        start(client)
        response = relay_post(client, state="forged", access_token="x")
        assert response.status_code == 400
        # A code-flow state cannot finish through the relay either.
    with provider_apps():
        _, params = start(client)
    with provider_apps(secret=""):
        response = relay_post(client, state=params["state"], access_token="x")
    assert response.status_code == 400
    assert not calls_to(mocked, PROFILE_URL)
    assert_nothing_linked()


def test_relay_post_requires_csrf(ada):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(ada)
    response = strict.post(reverse("seeclickfix_relay"), {"state": "s", "access_token": "x"})
    assert response.status_code == 403


def test_implicit_never_default_with_a_secret(client, ada):
    client.force_login(ada)
    _, params = start(client)
    assert params["response_type"] == "code"
    with scf_settings(FLOW="implicit"):
        _, params = start(client)
    assert params["response_type"] == "token"


# --- headless ----------------------------------------------------------------------------------


def test_headless_browser_flow(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    response = client.post(
        "/_allauth/browser/v1/auth/provider/redirect",
        {
            "provider": "seeclickfix",
            "callback_url": "http://testserver/app/linked",
            "process": "connect",
        },
    )
    assert response.status_code == 302
    params = parse_qs(urlsplit(response["Location"]).query)
    done = callback(client, params["state"][0])
    assert done.status_code == 302
    assert done["Location"] == "http://testserver/app/linked"
    assert SeeClickFixAccount.objects.get().user == ada


def test_headless_errors_redirect_with_a_code(client, ada, bob, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    callback(client, params["state"])
    client.force_login(bob)
    response = client.post(
        "/_allauth/browser/v1/auth/provider/redirect",
        {
            "provider": "seeclickfix",
            "callback_url": "http://testserver/app/linked",
            "process": "connect",
        },
    )
    params = parse_qs(urlsplit(response["Location"]).query)
    done = callback(client, params["state"][0])
    assert done.status_code == 302
    query = parse_qs(urlsplit(done["Location"]).query)
    assert query["error"] == ["seeclickfix_linked_elsewhere"]
    assert query["error_process"] == ["connect"]
    assert SeeClickFixAccount.objects.get().user == ada


@pytest.mark.parametrize(
    ("token", "profile"),
    [
        (token_body(expires_in=10**15), profile_body()),
        (token_body(), profile_body(scf_id=2**64)),
        (token_body(), profile_body(scf_id=-3)),
        (token_body(), {**profile_body(), "id": True}),
    ],
    ids=["absurd-expiry", "huge-id", "negative-id", "boolean-id"],
)
def test_absurd_answers_link_nothing_and_never_500(client, ada, mocked, token, profile):
    client.force_login(ada)
    mock_scf(mocked, token=token, profile=profile)
    _, params = start(client)
    response = callback(client, params["state"])
    assert response.status_code == 400
    assert_nothing_linked()


def test_implicit_absurd_expiry_links_nothing(client, ada, mocked):
    client.force_login(ada)
    mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    with provider_apps(secret=""):
        _, params = start(client)
        response = relay_post(
            client, state=params["state"], access_token="x", expires_in=str(10**12)
        )
    assert response.status_code == 400
    assert_nothing_linked()


def test_the_scope_setting_is_sent_only_when_set(client, ada):
    """Servers without default scopes need one (issue 16, #7): allauth's SCOPE convention."""
    client.force_login(ada)
    _, params = start(client)
    assert "scope" not in params
    app = {"client_id": CLIENT_ID, "secret": "s"}
    with override_settings(
        SOCIALACCOUNT_PROVIDERS={"seeclickfix": {"APPS": [app], "SCOPE": ["public", "write"]}}
    ):
        _, params = start(client)
    assert params["scope"] == "public write"
