"""allauth headless for mobile apps: sign-in and connect with a token from SeeClickFix's implicit
flow (``POST /_allauth/app/v1/auth/provider/token``), against the emulator over real HTTP.

The site is configured as docs/linking.md says: its own (code-flow) app, plus the city's mobile
app as a hidden app (the emulator's built-in implicit app). The mobile app's token comes from the
emulator's implicit flow, exactly as the app gets it: authorize with ``response_type=token``,
approve, read the fragment of the redirect to the app's own URI.
"""

from __future__ import annotations

import copy
import json
import logging
from urllib.parse import urlencode

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import override_settings

from django_seeclickfix.models import SeeClickFixAccount
from django_seeclickfix.testing.emulator import CODE_APP_ID, IMPLICIT_APP_ID
from django_seeclickfix.testing.emulator.oauth import parse_fragment

pytestmark = pytest.mark.django_db

TOKEN_URL = "/_allauth/app/v1/auth/provider/token"
CONFIG_URL = "/_allauth/app/v1/config"
LOGIN_URL = "/_allauth/app/v1/auth/login"
APP_REDIRECT_URI = "org.example.city311://oauth/seeclickfix"
MOBILE_APP = {"client_id": IMPLICIT_APP_ID, "secret": "", "settings": {"hidden": True}}


@pytest.fixture
def emulator(scf_emulator_settings, settings):
    """The emulator, this site's code-flow app and the city's mobile app (hidden)."""
    providers = copy.deepcopy(settings.SOCIALACCOUNT_PROVIDERS)
    providers["seeclickfix"]["APPS"].append(MOBILE_APP)
    settings.SOCIALACCOUNT_PROVIDERS = providers
    scf_emulator_settings.add_redirect_uri(APP_REDIRECT_URI, client_id=IMPLICIT_APP_ID)
    return scf_emulator_settings


def implicit_token(emulator, who="resident"):
    """What the mobile app holds after SeeClickFix's implicit flow: the redirect's fragment."""
    query = urlencode(
        {
            "client_id": IMPLICIT_APP_ID,
            "redirect_uri": APP_REDIRECT_URI,
            "response_type": "token",
            "state": "app-state",
        }
    )
    back = emulator.complete_authorization(f"{emulator.url}/oauth/authorize?{query}", who)
    assert back.startswith(APP_REDIRECT_URI + "#"), back
    fragment = parse_fragment(back)
    assert fragment["state"] == "app-state"
    return fragment


def provider_token(client, access_token, *, process="login", session_token=None, **token):
    """The request the mobile app sends (docs/linking.md, "Mobile apps")."""
    body = {
        "provider": "seeclickfix",
        "process": process,
        "token": {"client_id": IMPLICIT_APP_ID, "access_token": access_token, **token},
    }
    headers = {"HTTP_X_SESSION_TOKEN": session_token} if session_token else {}
    return client.post(TOKEN_URL, json.dumps(body), content_type="application/json", **headers)


def app_login(client, username, password="pw"):
    """The app's own password sign-in: the session token a connect is sent with."""
    response = client.post(
        LOGIN_URL,
        json.dumps({"username": username, "password": password}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["meta"]["session_token"]


def error_codes(response):
    return [error["code"] for error in response.json()["errors"]]


def assert_nothing_linked():
    assert not SeeClickFixAccount.objects.exists()
    assert not SocialAccount.objects.exists()


def raw_token_columns():
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM seeclickfix_seeclickfixaccount")
        return cursor.fetchall()


def test_config_lists_the_provider_token_flow_for_seeclickfix(client, emulator):
    config = client.get(CONFIG_URL).json()["data"]
    providers = config["socialaccount"]["providers"]
    ours = [p for p in providers if p["id"] == "seeclickfix"]
    assert {p["client_id"] for p in ours} == {CODE_APP_ID, IMPLICIT_APP_ID}
    assert all("provider_token" in p["flows"] for p in ours)
    flows = {flow["id"]: flow for flow in config["socialaccount"].get("flows", [])}
    if flows:  # allauth lists flows in the auth status, not always in the config
        assert "seeclickfix" in flows["provider_token"]["providers"]


def test_login_with_the_apps_token_signs_up_and_links(
    client, emulator, django_user_model, django_capture_on_commit_callbacks, published
):
    fragment = implicit_token(emulator)
    with django_capture_on_commit_callbacks(execute=True):
        response = provider_token(
            client, fragment["access_token"], expires_in=fragment["expires_in"]
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["meta"]["is_authenticated"] is True
    assert body["meta"]["session_token"]  # the app's session with this site

    resident = emulator.user("resident")
    account = SeeClickFixAccount.objects.get()
    user = django_user_model.objects.get()
    assert account.user == user
    assert body["data"]["user"]["id"] == user.pk
    assert account.user_scf_id == resident.id
    assert account.environment == "emulator"
    assert account.access_token == fragment["access_token"]
    assert account.refresh_token is None  # the implicit flow issues none
    assert account.expires_at is not None  # from SeeClickFix's token info
    assert account.status == "active"
    assert account.social_account.user == user
    # Sealed at rest: the database column never holds the token.
    ((raw_access, _),) = raw_token_columns()
    assert fragment["access_token"] not in raw_access
    # As the browser flows do: the first sync is queued once the link is committed.
    assert published == [("django_seeclickfix.tasks.sync_account", [account.pk])]
    # The token was checked with SeeClickFix before anything was stored.
    assert emulator.requests("/oauth/token/info")
    assert emulator.requests("/api/v2/profile")


def test_login_again_signs_in_the_linked_user_and_updates_the_token(client, emulator, ada):
    first = implicit_token(emulator)
    assert provider_token(client, first["access_token"]).status_code == 200
    linked = SeeClickFixAccount.objects.get()
    client.logout()
    second = implicit_token(emulator)
    response = provider_token(client, second["access_token"])
    assert response.status_code == 200, response.content
    again = SeeClickFixAccount.objects.get()
    assert again.pk == linked.pk
    assert again.user == linked.user
    assert again.access_token == second["access_token"]
    assert again.token_version == linked.token_version + 1
    assert response.json()["data"]["user"]["id"] == linked.user.pk


def test_connect_links_the_apps_token_to_the_signed_in_user(client, emulator, ada):
    session_token = app_login(client, "ada")
    fragment = implicit_token(emulator)
    response = provider_token(
        client, fragment["access_token"], process="connect", session_token=session_token
    )
    assert response.status_code == 200, response.content
    account = SeeClickFixAccount.objects.get()
    assert account.user == ada
    assert account.user_scf_id == emulator.user("resident").id
    assert account.social_account.user == ada
    assert account.access_token == fragment["access_token"]


def test_connect_without_a_session_links_nothing(client, emulator, ada):
    fragment = implicit_token(emulator)
    response = provider_token(client, fragment["access_token"], process="connect")
    assert response.status_code == 400, response.content
    assert error_codes(response) == ["seeclickfix_login_required"]
    assert_nothing_linked()


def test_a_token_minted_for_another_app_is_refused_and_nothing_linked(client, emulator):
    # A token issued to the site's other app (or to anybody's) sent under the mobile app's id:
    # token substitution, refused by the audience check before /profile is asked.
    stolen = emulator.issue_token("resident", client_id=CODE_APP_ID)
    response = provider_token(client, stolen.access_token)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    (error,) = body["errors"]
    assert error["code"] == "seeclickfix_audience"
    assert error["param"] == "token"
    assert "another app" in error["message"]
    assert not emulator.requests("/api/v2/profile")
    assert_nothing_linked()
    assert response.json().get("meta", {}).get("is_authenticated") is not True


def test_a_token_for_an_app_the_site_does_not_know_is_refused(client, emulator):
    fragment = implicit_token(emulator)
    response = provider_token(client, fragment["access_token"], client_id="someone-elses-app")
    assert response.status_code == 400
    assert error_codes(response) == ["invalid_token"]
    assert not emulator.requests("/oauth/token/info")
    assert_nothing_linked()


@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_a_token_seeclickfix_no_longer_accepts_is_refused(client, emulator, how):
    fragment = implicit_token(emulator)
    if how == "expired":
        emulator.advance(int(fragment["expires_in"]) + 1)
    else:
        assert emulator.revoke(fragment["access_token"])
    response = provider_token(client, fragment["access_token"])
    assert response.status_code == 400
    assert error_codes(response) == ["seeclickfix_token"]
    assert not emulator.requests("/api/v2/profile")
    assert_nothing_linked()


@pytest.mark.parametrize(
    "token",
    [{"access_token": ""}, {"access_token": "bad token\n"}, {"id_token": "x"}],
    ids=["empty", "unsendable", "no-access-token"],
)
def test_a_malformed_token_is_refused_without_asking_seeclickfix(client, emulator, token):
    body = {"provider": "seeclickfix", "process": "login", "token": {"client_id": IMPLICIT_APP_ID}}
    body["token"].update(token)
    response = client.post(TOKEN_URL, json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert not emulator.requests("/oauth/token/info")
    assert_nothing_linked()


def test_connecting_a_second_seeclickfix_account_is_refused_and_rolled_back(
    client, emulator, ada, published
):
    session_token = app_login(client, "ada")
    first = implicit_token(emulator, "resident")
    assert (
        provider_token(
            client, first["access_token"], process="connect", session_token=session_token
        ).status_code
        == 200
    )
    published.clear()
    other = implicit_token(emulator, "newcomer")
    response = provider_token(
        client, other["access_token"], process="connect", session_token=session_token
    )
    assert response.status_code == 400
    assert error_codes(response) == ["seeclickfix_other_account_linked"]
    # allauth had saved the second social account when the linking rules refused: rolled back.
    assert SocialAccount.objects.count() == 1
    account = SeeClickFixAccount.objects.get()
    assert account.user_scf_id == emulator.user("resident").id
    assert account.access_token == first["access_token"]
    assert published == []


def test_a_link_refused_under_lock_rolls_back_what_allauth_saved(
    client, emulator, ada, monkeypatch, published
):
    """A parallel link passes the pre-check and loses under the row locks: allauth has already
    saved its social account by then, and that is rolled back with the refused link."""
    from django_seeclickfix.allauth_provider import token_login

    session_token = app_login(client, "ada")
    first = implicit_token(emulator, "resident")
    provider_token(client, first["access_token"], process="connect", session_token=session_token)
    published.clear()
    # What a parallel request's pre-check saw: nothing linked yet.
    monkeypatch.setattr(token_login, "check_can_link", lambda *args: None)
    other = implicit_token(emulator, "newcomer")
    response = provider_token(
        client, other["access_token"], process="connect", session_token=session_token
    )
    assert response.status_code == 400
    assert error_codes(response) == ["seeclickfix_other_account_linked"]
    assert SocialAccount.objects.get().uid == SeeClickFixAccount.objects.get().social_account.uid
    assert SeeClickFixAccount.objects.get().access_token == first["access_token"]
    assert published == []


def test_connecting_another_users_seeclickfix_account_changes_nothing(client, emulator, ada, bob):
    fragment = implicit_token(emulator, "resident")
    bob_session = app_login(client, "bob")
    provider_token(client, fragment["access_token"], process="connect", session_token=bob_session)
    bobs = SeeClickFixAccount.objects.get()
    assert bobs.user == bob
    client.logout()
    ada_session = app_login(client, "ada")
    again = implicit_token(emulator, "resident")
    response = provider_token(
        client, again["access_token"], process="connect", session_token=ada_session
    )
    assert response.status_code == 400
    assert error_codes(response) == ["seeclickfix_linked_elsewhere"]
    assert SeeClickFixAccount.objects.get().user == bob
    assert SocialAccount.objects.get().user == bob
    assert SeeClickFixAccount.objects.get().access_token == fragment["access_token"]


def test_allauths_token_store_holds_the_sealed_bundle_only(client, emulator):
    fragment = implicit_token(emulator)
    with override_settings(SOCIALACCOUNT_STORE_TOKENS=True):
        assert provider_token(client, fragment["access_token"]).status_code == 200
    stored = SocialToken.objects.get()
    assert fragment["access_token"] not in stored.token
    assert fragment["access_token"] not in (stored.token_secret or "")


def test_the_apps_token_is_in_no_log(client, emulator, ada, caplog):
    caplog.set_level(logging.DEBUG)
    good = implicit_token(emulator)
    stolen = emulator.issue_token("newcomer", client_id=CODE_APP_ID)
    revoked = implicit_token(emulator, "official")
    emulator.revoke(revoked["access_token"])
    assert provider_token(client, good["access_token"]).status_code == 200
    assert provider_token(client, stolen.access_token).status_code == 400
    assert provider_token(client, revoked["access_token"]).status_code == 400
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "SeeClickFix sign-in refused: the token was issued to another app" in logged
    for secret in (good["access_token"], stolen.access_token, revoked["access_token"]):
        assert secret not in logged


def test_a_login_that_needs_allauths_signup_form_keeps_only_the_sealed_token(
    client, emulator, django_user_model, django_capture_on_commit_callbacks, published
):
    """The emulator's resident signs up with an address a site user already has: allauth asks
    for its signup form (a pending signup in the session) instead of linking anything."""
    resident = emulator.user("resident")
    django_user_model.objects.create_user("taken", email=resident.email, password="pw")
    fragment = implicit_token(emulator)
    response = provider_token(client, fragment["access_token"])
    assert response.status_code == 401, response.content
    flows = {flow["id"]: flow for flow in response.json()["data"]["flows"]}
    assert flows["provider_signup"]["is_pending"] is True
    assert_nothing_linked()
    # The app's session (its session token is the session key) holds the pending signup.
    session = SessionStore(session_key=response.json()["meta"]["session_token"]).load()
    assert "socialaccount_sociallogin" in session
    assert fragment["access_token"] not in json.dumps(session, default=str)
    # The app completes allauth's signup form: the link is stored then, as in the browser.
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            "/_allauth/app/v1/auth/provider/signup",
            json.dumps({"email": "rita@city.example", "username": "rita"}),
            content_type="application/json",
            HTTP_X_SESSION_TOKEN=response.json()["meta"]["session_token"],
        )
    assert done.status_code == 200, done.content
    account = SeeClickFixAccount.objects.get()
    assert account.user.username == "rita"
    assert account.access_token == fragment["access_token"]
    assert published == [("django_seeclickfix.tasks.sync_account", [account.pk])]
