"""Token regimes, refresh (with and without rotation), revoke, token info, and what the API
answers to bad, expired or revoked tokens."""

from __future__ import annotations

import base64

import pytest

from django_seeclickfix.testing.emulator import CODE_APP_ID, CODE_APP_SECRET

from .conftest import CALLBACK, bearer


def refresh(http, emulator, refresh_token: str, client_id=CODE_APP_ID, secret=CODE_APP_SECRET):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client_id is not None:
        data["client_id"] = client_id
    if secret is not None:
        data["client_secret"] = secret
    return http.post(f"{emulator.url}/oauth/token", data=data)


def profile_status(http, emulator, token: str) -> int:
    return http.get(f"{emulator.api_url}/profile", headers=bearer(token)).status_code


def use_app(emulator, **options) -> str:
    emulator.register_app("regime-app", "regime-secret", [CALLBACK], **options)
    return "regime-app"


def test_non_expiring_tokens_never_expire_and_have_no_refresh_token(scf_emulator, http):
    client_id = use_app(scf_emulator, token_regime="non_expiring")
    issued = scf_emulator.issue_token("resident", client_id)
    assert issued.expires_in is None
    assert issued.refresh_token is None
    assert "expires_in" not in issued.as_dict()
    scf_emulator.advance(10 * 365 * 86400)
    assert profile_status(http, scf_emulator, issued.access_token) == 200


def test_expiring_tokens_without_refresh_need_the_user_again(scf_emulator, http):
    client_id = use_app(scf_emulator, token_regime="no_refresh", access_token_lifetime=60)
    issued = scf_emulator.issue_token("resident", client_id)
    assert issued.expires_in == 60
    assert issued.refresh_token is None
    scf_emulator.advance(59)
    assert profile_status(http, scf_emulator, issued.access_token) == 200
    scf_emulator.advance(1)
    response = http.get(f"{scf_emulator.api_url}/profile", headers=bearer(issued.access_token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "expired" in response.json()["error_description"]


def test_refresh_with_rotation(scf_emulator, http):
    client_id = use_app(scf_emulator, token_regime="refresh", access_token_lifetime=60)
    first = scf_emulator.issue_token("resident", client_id)
    scf_emulator.advance(61)
    assert profile_status(http, scf_emulator, first.access_token) == 401
    response = refresh(http, scf_emulator, first.refresh_token, client_id, "regime-secret")
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first.refresh_token
    assert second["expires_in"] == 60
    assert profile_status(http, scf_emulator, second["access_token"]) == 200
    assert scf_emulator.token_state(first.refresh_token) == "revoked:rotated"
    assert scf_emulator.token_requests("refresh_token") == 1


def test_reusing_a_rotated_refresh_token_revokes_the_family(scf_emulator, http):
    first = scf_emulator.issue_token("resident")
    second = refresh(http, scf_emulator, first.refresh_token).json()
    third = refresh(http, scf_emulator, second["refresh_token"]).json()
    reuse = refresh(http, scf_emulator, first.refresh_token)
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert scf_emulator.token_state(third["access_token"]) == "revoked:family"
    assert profile_status(http, scf_emulator, third["access_token"]) == 401
    assert refresh(http, scf_emulator, third["refresh_token"]).json()["error"] == "invalid_grant"
    assert scf_emulator.counters["oauth.refresh_reuse"] == 1
    # other authorisations of the same user are untouched
    other = scf_emulator.issue_token("resident")
    assert profile_status(http, scf_emulator, other.access_token) == 200


def test_refresh_without_rotation_keeps_the_refresh_token(scf_emulator, http):
    client_id = use_app(scf_emulator, rotate_refresh_tokens=False)
    first = scf_emulator.issue_token("resident", client_id)
    one = refresh(http, scf_emulator, first.refresh_token, client_id, "regime-secret").json()
    two = refresh(http, scf_emulator, first.refresh_token, client_id, "regime-secret").json()
    assert one["refresh_token"] == two["refresh_token"] == first.refresh_token
    assert one["access_token"] != two["access_token"]
    # each refresh retires the access token before it
    assert profile_status(http, scf_emulator, first.access_token) == 401
    assert profile_status(http, scf_emulator, one["access_token"]) == 401
    assert profile_status(http, scf_emulator, two["access_token"]) == 200


def test_refresh_token_revoked_on_use_keeps_the_old_pair_until_the_new_token_is_used(
    scf_emulator, http
):
    client_id = use_app(scf_emulator, refresh_token_revoked_on_use=True)
    first = scf_emulator.issue_token("resident", client_id)
    second = refresh(http, scf_emulator, first.refresh_token, client_id, "regime-secret").json()
    # a racing worker still holding the old pair is not punished yet
    assert profile_status(http, scf_emulator, first.access_token) == 200
    assert profile_status(http, scf_emulator, second["access_token"]) == 200
    assert profile_status(http, scf_emulator, first.access_token) == 401
    reuse = refresh(http, scf_emulator, first.refresh_token, client_id, "regime-secret")
    assert reuse.json()["error"] == "invalid_grant"
    assert profile_status(http, scf_emulator, second["access_token"]) == 401


def test_refresh_needs_the_same_client(scf_emulator, http):
    first = scf_emulator.issue_token("resident")
    assert refresh(http, scf_emulator, first.refresh_token, None, None).status_code == 400
    wrong = refresh(http, scf_emulator, first.refresh_token, CODE_APP_ID, "bad")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    scf_emulator.register_app("other", "other-secret", [CALLBACK])
    other = refresh(http, scf_emulator, first.refresh_token, "other", "other-secret")
    assert other.json()["error"] == "invalid_grant"
    missing = http.post(f"{scf_emulator.url}/oauth/token", data={"grant_type": "refresh_token"})
    assert missing.json()["error"] == "invalid_request"
    # none of that used the token up
    assert refresh(http, scf_emulator, first.refresh_token).status_code == 200


def test_client_basic_auth_values_are_form_decoded(scf_emulator, http):
    scf_emulator.register_app("odd id", "s+cret:x", [CALLBACK])
    issued = scf_emulator.issue_token("resident", "odd id")
    credentials = base64.b64encode(b"odd+id:s%2Bcret%3Ax").decode()
    response = http.post(
        f"{scf_emulator.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 200


# revoke and token info ---------------------------------------------------------------------------


def test_revoke_is_rfc7009(scf_emulator, http):
    issued = scf_emulator.issue_token("resident")
    unknown = http.post(
        f"{scf_emulator.url}/oauth/revoke",
        data={"token": "no-such-token"},
        auth=(CODE_APP_ID, CODE_APP_SECRET),
    )
    assert unknown.status_code == 200
    assert unknown.json() == {}
    missing = http.post(f"{scf_emulator.url}/oauth/revoke", auth=(CODE_APP_ID, CODE_APP_SECRET))
    assert missing.status_code == 400
    stranger = http.post(f"{scf_emulator.url}/oauth/revoke", data={"token": issued.access_token})
    assert stranger.status_code == 403
    assert stranger.json()["error"] == "unauthorized_client"
    assert profile_status(http, scf_emulator, issued.access_token) == 200
    ok = http.post(
        f"{scf_emulator.url}/oauth/revoke",
        data={"token": issued.refresh_token, "token_type_hint": "refresh_token"},
        auth=(CODE_APP_ID, CODE_APP_SECRET),
    )
    assert ok.status_code == 200
    # revoking the refresh token retires its access token too (one Doorkeeper row)
    assert profile_status(http, scf_emulator, issued.access_token) == 401
    assert refresh(http, scf_emulator, issued.refresh_token).json()["error"] == "invalid_grant"


def test_public_client_tokens_can_be_revoked_without_a_secret(scf_emulator, http):
    issued = scf_emulator.issue_token("resident", "scf-emulator-implicit")
    response = http.post(f"{scf_emulator.url}/oauth/revoke", data={"token": issued.access_token})
    assert response.status_code == 200
    assert scf_emulator.token_state(issued.access_token) == "revoked:revoked"


def test_token_info(scf_emulator, http):
    issued = scf_emulator.issue_token("resident")
    scf_emulator.advance(100)
    response = http.get(f"{scf_emulator.url}/oauth/token/info", headers=bearer(issued.access_token))
    assert response.status_code == 200
    body = response.json()
    assert body["resource_owner_id"] == scf_emulator.user("resident").id
    assert body["application"] == {"uid": CODE_APP_ID}
    assert body["scope"] == []
    assert 7090 <= body["expires_in"] <= 7100
    assert body["created_at"] == issued.created_at
    scf_emulator.revoke(issued.access_token)
    gone = http.get(f"{scf_emulator.url}/oauth/token/info", headers=bearer(issued.access_token))
    assert gone.status_code == 401
    assert gone.json()["error"] == "invalid_token"
    assert "revoked" in gone.headers["WWW-Authenticate"]
    assert http.get(f"{scf_emulator.url}/oauth/token/info").status_code == 401


def test_deauthorizing_the_app_kills_its_tokens_only(scf_emulator, http):
    mine = scf_emulator.issue_token("resident")
    implicit = scf_emulator.issue_token("resident", "scf-emulator-implicit")
    assert scf_emulator.deauthorize("resident") == 1
    assert profile_status(http, scf_emulator, mine.access_token) == 401
    assert profile_status(http, scf_emulator, implicit.access_token) == 200
    assert scf_emulator.token_state(mine.access_token) == "revoked:deauthorized"


# what the API does with bad credentials ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["unknown", "expired", "revoked"])
def test_bad_tokens_get_401_invalid_token_by_default(scf_emulator, http, kind):
    issued = scf_emulator.issue_token("resident")
    token = "made-up" if kind == "unknown" else issued.access_token
    if kind == "expired":
        scf_emulator.advance(7200)
    if kind == "revoked":
        scf_emulator.revoke(token)
    response = http.get(f"{scf_emulator.api_url}/emails", headers=bearer(token))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert scf_emulator.counters[f"auth.invalid_token.{kind}"] == 1


def test_bad_tokens_can_get_403(scf_emulator, http):
    scf_emulator.invalid_token_behaviour = "403"
    response = http.get(f"{scf_emulator.api_url}/profile", headers=bearer("made-up"))
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_token"
    assert "WWW-Authenticate" not in response.headers


def test_bad_tokens_can_be_treated_as_anonymous(scf_emulator, http):
    scf_emulator.invalid_token_behaviour = "anonymous"
    profile = http.get(f"{scf_emulator.api_url}/profile", headers=bearer("made-up"))
    assert profile.status_code == 200
    assert profile.json() == {"id": None}
    emails = http.get(f"{scf_emulator.api_url}/emails", headers=bearer("made-up"))
    assert emails.status_code == 401
    assert emails.headers["WWW-Authenticate"] == 'Bearer realm="Doorkeeper"'
    with pytest.raises(ValueError, match="invalid_token_behaviour"):
        scf_emulator.invalid_token_behaviour = "418"


def test_personal_access_tokens(scf_emulator, http):
    official = scf_emulator.user("official")
    seeded = scf_emulator.personal_tokens[official.id]
    assert "/" in seeded
    assert "-" in seeded
    profile = http.get(f"{scf_emulator.api_url}/profile", headers=bearer(seeded)).json()
    assert profile["permissions"] == {"can_acknowledge": True}
    fresh = scf_emulator.personal_access_token("resident", expires_in=60)
    assert profile_status(http, scf_emulator, fresh) == 200
    scf_emulator.advance(60)
    assert profile_status(http, scf_emulator, fresh) == 401
    with pytest.raises(ValueError, match="one year"):
        scf_emulator.personal_access_token("resident", expires_in=400 * 86400)
    for _ in range(20):
        scf_emulator.personal_access_token("newcomer")
    with pytest.raises(ValueError, match="at most 20"):
        scf_emulator.personal_access_token("newcomer")


def test_http_basic_with_email_and_password(scf_emulator, http):
    ok = http.get(
        f"{scf_emulator.api_url}/profile", auth=("rita@example.com", "rita-demo-password")
    )
    assert ok.json()["name"] == "Rita Resident"
    bad = http.get(f"{scf_emulator.api_url}/profile", auth=("rita@example.com", "nope"))
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"].startswith("Basic")
    garbage = http.get(
        f"{scf_emulator.api_url}/profile", headers={"Authorization": "Basic !!!not-base64"}
    )
    assert garbage.status_code == 401


def test_tokens_in_the_query_string_are_ignored_and_counted(scf_emulator, http, rita_token):
    response = http.get(f"{scf_emulator.api_url}/profile", params={"access_token": rita_token})
    assert response.json() == {"id": None}
    assert scf_emulator.counters["security.token_in_query"] == 1
    logged = scf_emulator.requests("/api/v2/profile")[-1]
    assert logged.query == {"access_token": "[redacted]"}


# confidential, separate from the secret (Doorkeeper's column) ------------------------------------


def code_exchange(http, emulator, client_id, secret=None, code="never-issued"):
    """A code nobody issued: what it answers says whether the client authenticated."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    data["client_id"] = client_id
    if secret is not None:
        data["client_secret"] = secret
    return http.post(f"{emulator.url}/oauth/token", data=data)


@pytest.mark.parametrize(
    ("secret", "confidential", "sent", "error"),
    [
        ("s3cret", None, "s3cret", "invalid_grant"),  # the client passed, the code did not
        ("s3cret", None, "wrong", "invalid_client"),
        ("s3cret", None, None, "invalid_client"),  # confidential by default: the secret is due
        ("s3cret", False, None, "invalid_grant"),  # non-confidential: its id alone will do
        ("s3cret", False, "wrong", "invalid_client"),  # ...but a secret sent must match
        (None, None, None, "invalid_grant"),  # id-only, non-confidential by default
        (None, True, None, "invalid_client"),  # a confidential id-only app never authenticates
    ],
)
def test_client_authentication_follows_doorkeeper(
    scf_emulator, http, secret, confidential, sent, error
):
    scf_emulator.register_app("dk-app", secret, [CALLBACK], confidential=confidential)
    response = code_exchange(http, scf_emulator, "dk-app", sent)
    assert response.json()["error"] == error
    assert response.status_code == (401 if error == "invalid_client" else 400)


def test_a_confidential_id_only_apps_tokens_cannot_be_revoked(scf_emulator, http):
    """Doorkeeper refuses the revocation (issue 16, #3): the app cannot authenticate."""
    app = scf_emulator.register_app("id-only", None, [CALLBACK], confidential=True)
    assert app.describe()["confidential"] is True
    issued = scf_emulator.issue_token("resident", "id-only")
    refused = http.post(
        f"{scf_emulator.url}/oauth/revoke",
        data={"token": issued.access_token, "client_id": "id-only"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "unauthorized_client"
    assert profile_status(http, scf_emulator, issued.access_token) == 200
    scf_emulator.register_app("id-only", None, [CALLBACK])  # the default: non-confidential
    issued = scf_emulator.issue_token("resident", "id-only")
    revoked = http.post(
        f"{scf_emulator.url}/oauth/revoke",
        data={"token": issued.access_token, "client_id": "id-only"},
    )
    assert revoked.status_code == 200
    assert profile_status(http, scf_emulator, issued.access_token) == 401
