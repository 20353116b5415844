"""The authorise pages and the code, implicit and PKCE flows, driven with plain ``requests``."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from django_seeclickfix.testing.emulator import (
    CODE_APP_ID,
    CODE_APP_SECRET,
    IMPLICIT_APP_ID,
    AuthorizationFailed,
    parse_fragment,
    s256,
)

from .conftest import CALLBACK, bearer, exchange


def authorize_url(emulator, **params: str) -> str:
    query = {"client_id": CODE_APP_ID, "redirect_uri": CALLBACK, "response_type": "code"}
    query.update(params)
    return f"{emulator.url}/oauth/authorize?{urlencode(query)}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def hidden(html: str) -> dict[str, str]:
    """The hidden form fields, as a browser would send them."""
    fields = re.findall(r"<input type='hidden' name='([^']*)' value='([^']*)'>", html)
    return {unescape(name): unescape(value) for name, value in fields}


# the pages, step by step -------------------------------------------------------------------------


def test_code_flow_step_by_step(scf_emulator, http):
    start = http.get(authorize_url(scf_emulator, state="st-1"), allow_redirects=False)
    assert start.status_code == 302
    assert start.headers["Location"].startswith("/users/sign_in?return_to=")

    sign_in_page = http.get(scf_emulator.url + start.headers["Location"])
    assert "Sign in to SeeClickFix" in sign_in_page.text
    form = hidden(sign_in_page.text)
    form.update({"email": "rita@example.com", "password": "wrong"})
    refused = http.post(f"{scf_emulator.url}/users/sign_in", data=form, allow_redirects=False)
    assert refused.status_code == 401
    assert "Invalid email or password." in refused.text

    form["password"] = "rita-demo-password"
    signed_in = http.post(f"{scf_emulator.url}/users/sign_in", data=form, allow_redirects=False)
    assert signed_in.status_code == 302
    approve_page = http.get(scf_emulator.url + signed_in.headers["Location"])
    assert "Authorize <strong>Emulator code-flow app</strong>" in approve_page.text
    assert "Signed in as Rita Resident" in approve_page.text

    forms = re.findall(r"<form[^>]*>(.*?)</form>", approve_page.text, re.S)
    approve = hidden(next(f for f in forms if "value='approve'" in f))
    done = http.post(f"{scf_emulator.url}/oauth/authorize", data=approve, allow_redirects=False)
    assert done.status_code == 302
    location = done.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    params = query_of(location)
    assert params["state"] == "st-1"

    token = exchange(http, scf_emulator, params["code"])
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 7200
    assert body["refresh_token"]
    assert isinstance(body["created_at"], int)
    assert "scope" not in body  # blank fields are dropped, like Doorkeeper
    assert token.headers["Cache-Control"] == "no-store"
    profile = http.get(f"{scf_emulator.api_url}/profile", headers=bearer(body["access_token"]))
    assert profile.json()["name"] == "Rita Resident"
    assert scf_emulator.token_requests("authorization_code") == 1


def test_approval_needs_the_form_token_of_the_signed_in_session(scf_emulator, http):
    location = scf_emulator.complete_authorization(
        authorize_url(scf_emulator), "resident", session=http
    )
    assert "code=" in location
    forged = {
        "client_id": CODE_APP_ID,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "decision": "approve",
        "authenticity_token": "guessed",
    }
    response = http.post(f"{scf_emulator.url}/oauth/authorize", data=forged, allow_redirects=False)
    assert response.status_code == 422


def test_sign_in_does_not_redirect_off_site(scf_emulator, http):
    page = http.get(
        f"{scf_emulator.url}/users/sign_in", params={"return_to": "https://evil.example/"}
    )
    form = hidden(page.text)
    assert form["return_to"] == "/"


def test_deny_sends_access_denied_with_the_state(scf_emulator):
    location = scf_emulator.complete_authorization(
        authorize_url(scf_emulator, state="keep-me"), "resident", approve=False
    )
    params = query_of(location)
    assert params["error"] == "access_denied"
    assert params["state"] == "keep-me"
    assert "code" not in params


def test_a_signed_in_browser_goes_straight_to_approval(scf_emulator, http):
    scf_emulator.complete_authorization(authorize_url(scf_emulator), "resident", session=http)
    again = http.get(authorize_url(scf_emulator), allow_redirects=False)
    assert again.status_code == 200
    assert "Authorization required" in again.text


def test_skip_authorization_app_redirects_at_once(scf_emulator, http):
    scf_emulator.register_app("trusted", "s3cret", [CALLBACK], skip_authorization=True)
    scf_emulator.complete_authorization(authorize_url(scf_emulator), "resident", session=http)
    response = http.get(authorize_url(scf_emulator, client_id="trusted"), allow_redirects=False)
    assert response.status_code == 302
    assert "code=" in response.headers["Location"]


# authorise errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "nobody"}, "invalid_client"),
        ({"client_id": ""}, "invalid_request"),
        ({"redirect_uri": CALLBACK + "extra"}, "invalid_redirect_uri"),
        (
            {"redirect_uri": "http://TESTSERVER/accounts/seeclickfix/login/callback/"},
            "invalid_redirect_uri",
        ),
        ({"redirect_uri": ""}, "invalid_request"),
    ],
)
def test_errors_that_render_a_page_never_redirect(scf_emulator, http, change, error):
    response = http.get(authorize_url(scf_emulator, **change), allow_redirects=False)
    assert response.status_code == 400
    assert f"data-error='{error}'" in response.text


def test_unsupported_response_type_goes_back_to_the_client(scf_emulator, http):
    response = http.get(
        authorize_url(scf_emulator, response_type="password", state="s"), allow_redirects=False
    )
    assert response.status_code == 302
    params = query_of(response.headers["Location"])
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "s"


def test_bad_code_challenge_method_is_invalid_request(scf_emulator, http):
    response = http.get(
        authorize_url(scf_emulator, code_challenge="abc", code_challenge_method="S512"),
        allow_redirects=False,
    )
    params = query_of(response.headers["Location"])
    assert params["error"] == "invalid_request"
    assert "plain or S256" in params["error_description"]


def test_complete_authorization_reports_error_pages(scf_emulator):
    with pytest.raises(AuthorizationFailed, match="invalid_client"):
        scf_emulator.complete_authorization(
            authorize_url(scf_emulator, client_id="nobody"), "resident"
        )
    with pytest.raises(AuthorizationFailed, match="sign-in was refused"):
        scf_emulator.complete_authorization(
            authorize_url(scf_emulator), "resident", password="nope"
        )


# the token endpoint for codes --------------------------------------------------------------------


def test_codes_are_single_use_and_a_replay_revokes_what_they_gave(scf_emulator, http):
    code = scf_emulator.issue_code("resident")
    first = exchange(http, scf_emulator, code)
    assert first.status_code == 200
    replay = exchange(http, scf_emulator, code)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    access = first.json()["access_token"]
    assert scf_emulator.token_state(access) == "revoked:code_replay"
    assert http.get(f"{scf_emulator.api_url}/profile", headers=bearer(access)).status_code == 401


def test_codes_expire_after_ten_minutes(scf_emulator, http):
    fresh, stale = scf_emulator.issue_code("resident"), scf_emulator.issue_code("resident")
    scf_emulator.advance(599)
    assert exchange(http, scf_emulator, fresh).status_code == 200
    scf_emulator.advance(1)
    response = exchange(http, scf_emulator, stale)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_the_token_endpoint_takes_json_too(scf_emulator, http):
    code = scf_emulator.issue_code("resident")
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": CODE_APP_ID,
        "client_secret": CODE_APP_SECRET,
        "code_verifier": None,
    }
    assert http.post(f"{scf_emulator.url}/oauth/token", json=body).status_code == 200


def test_client_can_authenticate_with_basic(scf_emulator, http):
    code = scf_emulator.issue_code("resident")
    response = http.post(
        f"{scf_emulator.url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(CODE_APP_ID, CODE_APP_SECRET),
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("extra", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"redirect_uri": "http://testserver/other/"}, 400, "invalid_grant"),
        ({"code": "made-up"}, 400, "invalid_grant"),
        ({"code": ""}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
    ],
)
def test_token_endpoint_errors_are_doorkeepers(scf_emulator, http, extra, status, error):
    code = scf_emulator.issue_code("resident")
    response = exchange(http, scf_emulator, code, **extra)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert scf_emulator.token_requests() == 1


def test_a_code_for_another_client_is_invalid_grant(scf_emulator, http):
    scf_emulator.register_app("other", "other-secret", [CALLBACK])
    code = scf_emulator.issue_code("resident", client_id="other")
    response = exchange(http, scf_emulator, code)
    assert response.json()["error"] == "invalid_grant"


def test_token_endpoint_is_post_only(scf_emulator, http):
    assert http.get(f"{scf_emulator.url}/oauth/token").status_code == 405


# PKCE --------------------------------------------------------------------------------------------

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def test_s256_matches_rfc7636_appendix_b():
    assert s256(VERIFIER) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    ("method", "challenge"), [("S256", s256(VERIFIER)), ("plain", VERIFIER), (None, VERIFIER)]
)
def test_pkce_through_the_pages(scf_emulator, http, method, challenge):
    params = {"code_challenge": challenge}
    if method:
        params["code_challenge_method"] = method
    location = scf_emulator.complete_authorization(
        authorize_url(scf_emulator, **params), "resident"
    )
    code = query_of(location)["code"]
    wrong = exchange(http, scf_emulator, code, code_verifier=VERIFIER + "x")
    assert wrong.json()["error"] == "invalid_grant"
    code = query_of(
        scf_emulator.complete_authorization(authorize_url(scf_emulator, **params), "resident")
    )["code"]
    assert exchange(http, scf_emulator, code, code_verifier=VERIFIER).status_code == 200


def test_pkce_verifier_is_required_when_a_challenge_was_sent(scf_emulator, http):
    code = scf_emulator.issue_code(
        "resident", code_challenge=s256(VERIFIER), code_challenge_method="S256"
    )
    response = exchange(http, scf_emulator, code)
    assert response.json()["error"] == "invalid_grant"
    assert scf_emulator.counters["oauth.pkce_failed"] == 1


def test_a_server_without_pkce_ignores_the_parameters(scf_emulator, http):
    scf_emulator.configure(pkce=False)
    location = scf_emulator.complete_authorization(
        authorize_url(scf_emulator, code_challenge=s256(VERIFIER), code_challenge_method="S256"),
        "resident",
    )
    response = exchange(http, scf_emulator, query_of(location)["code"], code_verifier="anything")
    assert response.status_code == 200


def test_public_client_exchanges_a_code_with_pkce_and_no_secret(scf_emulator, http):
    code = scf_emulator.issue_code(
        "resident",
        client_id=IMPLICIT_APP_ID,
        code_challenge=s256(VERIFIER),
        code_challenge_method="S256",
    )
    response = exchange(
        http,
        scf_emulator,
        code,
        client_id=IMPLICIT_APP_ID,
        client_secret="",
        code_verifier=VERIFIER,
    )
    assert response.status_code == 200


# implicit flow -----------------------------------------------------------------------------------


def test_implicit_flow_puts_the_token_in_the_fragment(scf_emulator, http):
    location = scf_emulator.complete_authorization(
        authorize_url(scf_emulator, client_id=IMPLICIT_APP_ID, response_type="token", state="imp"),
        "resident",
    )
    assert urlsplit(location).query == ""
    fragment = parse_fragment(location)
    assert fragment["token_type"] == "Bearer"
    assert fragment["state"] == "imp"
    assert fragment["expires_in"] == "7200"
    assert "refresh_token" not in fragment  # the implicit flow never gets one
    profile = http.get(f"{scf_emulator.api_url}/profile", headers=bearer(fragment["access_token"]))
    assert profile.json()["id"] == scf_emulator.user("resident").id


def test_implicit_deny_error_is_in_the_fragment(scf_emulator):
    location = scf_emulator.complete_authorization(
        authorize_url(scf_emulator, client_id=IMPLICIT_APP_ID, response_type="token", state="x"),
        "resident",
        approve=False,
    )
    assert parse_fragment(location)["error"] == "access_denied"
    assert parse_fragment(location)["state"] == "x"


# the real chain's extras -------------------------------------------------------------------------


@pytest.mark.parametrize("scf_login", ["choose", "register"])
def test_scf_login_is_accepted_through_the_whole_chain(scf_emulator, http, scf_login):
    back = scf_emulator.complete_authorization(
        authorize_url(scf_emulator, state="s", scf_login=scf_login), "resident", session=http
    )
    assert back.startswith(CALLBACK + "?")
    assert query_of(back)["code"]


def test_an_unknown_scf_login_is_refused(scf_emulator, http):
    response = http.get(authorize_url(scf_emulator, scf_login="bogus"), allow_redirects=False)
    assert response.status_code == 400


def test_the_implicit_app_accepts_the_library_relay_uri(scf_emulator, http):
    relay = CALLBACK.replace("/login/callback/", "/login/relay/")
    url = authorize_url(
        scf_emulator, client_id=IMPLICIT_APP_ID, redirect_uri=relay, response_type="token"
    )
    back = scf_emulator.complete_authorization(url, "resident", session=http)
    assert back.startswith(relay + "#")
    assert parse_fragment(back)["access_token"]


# Doorkeeper's server options (issue 16: one emulator switch per behaviour) -----------------------


def test_error_pages_can_answer_200_like_doorkeeper(scf_emulator, http):
    scf_emulator.configure(error_page_status=200)
    page = http.get(authorize_url(scf_emulator, client_id="nobody"), allow_redirects=False)
    assert page.status_code == 200  # a page, never a redirect back to the site
    assert "data-error='invalid_client'" in page.text
    with pytest.raises(AuthorizationFailed, match="invalid_client"):
        scf_emulator.complete_authorization(
            authorize_url(scf_emulator, client_id="nobody"), "resident"
        )
    with pytest.raises(ValueError, match="error_page_status"):
        scf_emulator.configure(error_page_status=302)


def test_without_default_scopes_an_authorize_request_needs_a_scope(scf_emulator, http):
    scf_emulator.configure(default_scopes=False)
    page = http.get(authorize_url(scf_emulator, state="s"), allow_redirects=False)
    assert page.status_code == 400
    assert "data-error='invalid_request'" in page.text
    assert "Missing required parameter: scope." in unescape(page.text)
    with_scope = http.get(authorize_url(scf_emulator, scope="public"), allow_redirects=False)
    assert with_scope.status_code == 302
    assert "/users/sign_in" in with_scope.headers["Location"]


@pytest.mark.parametrize("reuse", [True, False])
def test_reuse_access_token_hands_back_the_live_token(scf_emulator, http, reuse):
    scf_emulator.configure(reuse_access_token=reuse)
    first = exchange(http, scf_emulator, scf_emulator.issue_code("resident")).json()
    again = exchange(http, scf_emulator, scf_emulator.issue_code("resident")).json()
    assert (again["access_token"] == first["access_token"]) is reuse
    implicit = scf_emulator.complete_authorization(
        authorize_url(scf_emulator, response_type="token"), "resident"
    )
    assert (parse_fragment(implicit)["access_token"] == first["access_token"]) is reuse
    scf_emulator.revoke(first["access_token"])
    fresh = exchange(http, scf_emulator, scf_emulator.issue_code("resident")).json()
    assert fresh["access_token"] != first["access_token"]  # a revoked token is never reused
