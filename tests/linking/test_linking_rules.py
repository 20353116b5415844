"""linking.py directly: the rules hold even when the views' pre-checks are bypassed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from django_seeclickfix import errorcodes, linking
from django_seeclickfix.client import TokenResponse
from django_seeclickfix.exceptions import LinkRefused, TokenDecryptionError
from django_seeclickfix.fields import encrypt
from django_seeclickfix.linking import link_account
from django_seeclickfix.models import SeeClickFixAccount
from django_seeclickfix.sealing import seal_tokens, unseal_tokens

from .conftest import callback, mock_scf, profile_body, scf_settings, start

pytestmark = pytest.mark.django_db


def sealed(access="at", refresh="rt", expires_in=7200):
    now = timezone.now()
    token = TokenResponse(access, "Bearer", expires_in, refresh, "public", now)
    return unseal_tokens(seal_tokens(token, received_at=now))


def test_sealed_bundle_round_trip_hides_the_tokens():
    now = timezone.now()
    token = TokenResponse("secret-at", "Bearer", 60, "secret-rt", "read", now)
    blob = seal_tokens(token, received_at=now)
    assert "secret" not in blob
    opened = unseal_tokens(blob)
    assert (opened.access_token, opened.refresh_token, opened.scope) == (
        "secret-at",
        "secret-rt",
        "read",
    )
    assert opened.expires_at == now + timedelta(seconds=60)
    assert "secret" not in repr(opened)


@pytest.mark.parametrize("payload", [{"v": 2, "a": "x"}, {"v": 1}, ["v", 1]])
def test_unknown_sealed_formats_are_refused(payload):
    with pytest.raises(TokenDecryptionError):
        unseal_tokens(str(encrypt(json.dumps(payload))))


def test_link_account_refuses_another_users_account_under_lock(ada, bob):
    link_account(user=ada, social_account=None, tokens=sealed(), profile={"id": 5})
    with pytest.raises(LinkRefused) as excinfo:
        link_account(user=bob, social_account=None, tokens=sealed("bob-at"), profile={"id": 5})
    assert excinfo.value.code == errorcodes.E_LINKED_ELSEWHERE
    assert SeeClickFixAccount.objects.get().access_token == "at"


def test_link_account_refuses_a_second_live_account(ada):
    link_account(user=ada, social_account=None, tokens=sealed(), profile={"id": 5})
    with pytest.raises(LinkRefused) as excinfo:
        link_account(user=ada, social_account=None, tokens=sealed(), profile={"id": 6})
    assert excinfo.value.code == errorcodes.E_OTHER_ACCOUNT


def test_link_account_replaces_a_disconnected_other_account(ada):
    old = link_account(user=ada, social_account=None, tokens=sealed(), profile={"id": 5})
    SeeClickFixAccount.objects.filter(pk=old.pk).update(status="revoked")
    new = link_account(user=ada, social_account=None, tokens=sealed(), profile={"id": 6})
    assert list(SeeClickFixAccount.objects.values_list("user_scf_id", flat=True)) == [6]
    assert new.status == "active"


def test_tokens_sealed_for_another_environment_are_refused(ada):
    tokens = sealed()
    with scf_settings(ENVIRONMENT="test"), pytest.raises(LinkRefused) as excinfo:
        link_account(user=ada, social_account=None, tokens=tokens, profile={"id": 5})
    assert excinfo.value.code == errorcodes.E_ENVIRONMENT
    assert not SeeClickFixAccount.objects.exists()


def test_a_parallel_link_hitting_the_constraint_is_refused(ada, bob, monkeypatch):
    # Simulate the race: the check under lock saw nothing, the insert then meets the constraint.
    SeeClickFixAccount.objects.create(user=bob, environment="production", user_scf_id=5)
    real_filter = SeeClickFixAccount.objects.select_for_update

    class Blind:
        def filter(self, *args, **kwargs):
            return SeeClickFixAccount.objects.none()

    monkeypatch.setattr(
        type(SeeClickFixAccount.objects), "select_for_update", lambda self, *a, **k: Blind()
    )
    with pytest.raises(LinkRefused):
        link_account(user=ada, social_account=None, tokens=sealed(), profile={"id": 5})
    monkeypatch.setattr(type(SeeClickFixAccount.objects), "select_for_update", real_filter)
    assert SeeClickFixAccount.objects.get().user == bob


def test_check_can_link_needs_a_user():
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(LinkRefused):
        linking.check_can_link(AnonymousUser(), "production", 5)


@pytest.mark.parametrize(
    ("rows", "refused"),
    [
        ([("bob", 5, "active")], errorcodes.E_LINKED_ELSEWHERE),
        ([("bob", 5, "reauth_required")], errorcodes.E_LINKED_ELSEWHERE),
        ([("bob", 5, "revoked")], None),
        ([("ada", 6, "active")], errorcodes.E_OTHER_ACCOUNT),
        ([("ada", 6, "revoked")], None),
        ([("ada", 5, "active")], None),  # the same link again: a relink
        ([("ada", 6, "active"), ("bob", 5, "active")], errorcodes.E_LINKED_ELSEWHERE),
        ([("bob", 6, "active")], None),
    ],
)
def test_check_can_link_refuses_live_links_of_others_and_second_links(ada, bob, rows, refused):
    users = {"ada": ada, "bob": bob}
    for owner, user_scf_id, status in rows:
        SeeClickFixAccount.objects.create(
            user=users[owner], environment="production", user_scf_id=user_scf_id, status=status
        )
    SeeClickFixAccount.objects.create(user=bob, environment="test", user_scf_id=5)  # elsewhere
    if refused is None:
        linking.check_can_link(ada, "production", 5)
    else:
        with pytest.raises(LinkRefused) as excinfo:
            linking.check_can_link(ada, "production", 5)
        assert excinfo.value.code == refused


class EmailMatchingAdapter(DefaultSocialAccountAdapter):
    """A host adapter that (wrongly) matches SeeClickFix logins to users by email."""

    def authenticate_by_email(self, sociallogin):
        user = get_user_model().objects.filter(username="ada").first()
        return (user, "ada@example.org") if user else None


def test_email_match_by_a_host_adapter_is_still_refused(client, ada, mocked):
    mock_scf(mocked)
    with override_settings(
        SOCIALACCOUNT_ADAPTER="tests.linking.test_linking_rules.EmailMatchingAdapter",
        SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT=True,
    ):
        _, params = start(client, process="login")
        response = callback(client, params["state"])
    assert response.status_code == 403
    assert "never matched to a user of this site by email" in response.content.decode()
    assert client.session.get("_auth_user_id") is None
    assert not SeeClickFixAccount.objects.exists()
    assert not SocialAccount.objects.exists()


def test_strict_samesite_callback_reloads_once(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    with override_settings(SESSION_COOKIE_SAMESITE="Strict"):
        response = client.get(reverse("seeclickfix_callback"), {"state": "x", "code": "y"})
        assert response.status_code == 200
        assert "_redir" in response.content.decode()
        again = client.get(
            reverse("seeclickfix_callback"), {"state": "x", "code": "y", "_redir": ""}
        )
    assert again.status_code == 400


def test_provider_account_display(client, ada, mocked):
    client.force_login(ada)
    mock_scf(
        mocked,
        profile={**profile_body(), "avatar": {"full": "https://img.example/full.png"}},
    )
    _, params = start(client)
    callback(client, params["state"])
    social = SocialAccount.objects.get()
    assert social.get_avatar_url() == "https://img.example/full.png"
    assert str(social.get_provider_account()) == "Ada Lovelace"
    assert ada.first_name == ""  # connecting never rewrites the site user's own fields


def test_pending_signup_finished_after_someone_else_linked_is_a_403(
    client, ada, bob, mocked, settings
):
    # The signup form is needed (email required and missing), so the social login waits in
    # the session; meanwhile the same SeeClickFix account gets linked to ada.
    settings.SOCIALACCOUNT_AUTO_SIGNUP = False
    mock_scf(mocked, profile=profile_body(email=None))
    _, params = start(client, process="login")
    pending = callback(client, params["state"])
    assert pending.status_code == 302
    assert pending["Location"] == reverse("socialaccount_signup")
    # The waiting social login holds the sealed bundle, never the tokens themselves.
    assert "socialaccount_sociallogin" in client.session
    assert "at-1" not in str(dict(client.session))
    assert "rt-1" not in str(dict(client.session))
    link_account(user=ada, social_account=None, tokens=sealed(), profile={"id": 1001})
    response = client.post(
        reverse("socialaccount_signup"), {"username": "newbie", "email": "n@example.org"}
    )
    assert response.status_code == 403
    assert SeeClickFixAccount.objects.get().user == ada


def test_auth_params_setting_cannot_replace_flow_parameters(client, ada):
    from urllib.parse import parse_qs, urlsplit

    client.force_login(ada)
    with override_settings(
        SOCIALACCOUNT_PROVIDERS={
            "seeclickfix": {
                "APPS": [{"client_id": "test-client-id", "secret": "s"}],
                "AUTH_PARAMS": {"redirect_uri": "https://evil.example/", "state": "fixed", "x": 1},
            }
        }
    ):
        response, _ = start(client)
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["redirect_uri"] == ["http://testserver/accounts/seeclickfix/login/callback/"]
    assert query["state"] != ["fixed"]
    assert len(query["state"]) == 1
    assert query["x"] == ["1"]
