"""Contracts of the OAuth server (Doorkeeper's endpoints as SeeClickFix runs them): authorize
errors, the code exchange, PKCE, refresh, revocation and token info."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import requests

from .listing import profile_id
from .registry import Broken, check, contract
from .target import Target, body, shown

PROBE_REDIRECT = "https://contract-probe.invalid/callback"
PROBE_HOST = urlsplit(PROBE_REDIRECT).netloc


def authorize_url(target: Target, **params: str) -> str:
    query = {"response_type": "code", "state": secrets.token_urlsafe(12), **params}
    return f"{target.base_url}/oauth/authorize?{urlencode(query)}"


def _walk_authorize(target: Target, url: str) -> tuple[list[str], requests.Response]:
    """Opens ``url`` as a browser that never signs in: follows redirects while they stay on
    the server's host. Returns every Location seen and the last answer."""
    host = urlsplit(target.base_url).netloc
    seen: list[str] = []
    response = target.request("GET", url)
    for _ in range(10):
        location = response.headers.get("Location")
        if response.status_code not in (301, 302, 303, 307) or not location:
            break
        location = urljoin(response.url, location)
        seen.append(location)
        if urlsplit(location).netloc != host:
            break
        response = target.request("GET", location)
    return seen, response


def _never_to_probe(target: Target, url: str) -> str:
    seen, last = _walk_authorize(target, url)
    leaked = [where for where in seen if urlsplit(where).netloc == PROBE_HOST]
    check(not leaked, f"redirected to the unregistered redirect_uri: {leaked[0] if leaked else ''}")
    hops = " then ".join(urlsplit(where).path or where for where in seen)
    return (f"redirects to {hops}, then " if seen else "") + f"{last.status_code}"


@contract(
    "oauth.authorize_unknown_client",
    "GET /oauth/authorize with an unknown client_id never redirects to the redirect_uri it "
    "names (an error page, or the sign-in on the server's side).",
    tags={"oauth", "read"},
)
def authorize_unknown_client(target: Target) -> str:
    url = authorize_url(
        target, client_id="contract-probe-unknown-client", redirect_uri=PROBE_REDIRECT
    )
    return _never_to_probe(target, url)


@contract(
    "oauth.authorize_unregistered_redirect",
    "GET /oauth/authorize with the app's client_id and a redirect_uri it never registered "
    "never redirects there.",
    tags={"oauth", "read"},
    needs={"client"},
)
def authorize_unregistered_redirect(target: Target) -> str:
    assert target.client_id is not None
    url = authorize_url(target, client_id=target.client_id, redirect_uri=PROBE_REDIRECT)
    return _never_to_probe(target, url)


def _authorize(
    target: Target, params: dict[str, str] | None = None, *, approve: bool = True
) -> tuple[str | None, str]:
    """Plays the browser through the server's pages; (URL sent back to or None, state)."""
    assert target.authorize is not None
    assert target.client_id
    assert target.redirect_uri
    query = {"client_id": target.client_id, "redirect_uri": target.redirect_uri, **(params or {})}
    url = authorize_url(target, **query)
    state = dict(parse_qsl(urlsplit(url).query))["state"]
    back = target.authorize(url, approve)
    if back is not None:
        target.remember_secret(dict(parse_qsl(urlsplit(back).query)).get("code"))
    return back, state


def _back_to_site(target: Target, back: str | None) -> dict[str, str]:
    if back is None:
        raise Broken("the server stopped on one of its pages instead of redirecting back")
    assert target.redirect_uri is not None
    check(
        back.split("?", 1)[0] == target.redirect_uri,
        f"redirected to {back.split('?', 1)[0]}, not the registered redirect_uri",
    )
    return dict(parse_qsl(urlsplit(back).query))


def _code(target: Target, **params: str) -> str:
    back, state = _authorize(target, params)
    query = _back_to_site(target, back)
    check(query.get("state") == state, f"state came back as {query.get('state')!r}")
    check(query.get("code"), f"no code in the redirect back (keys {sorted(query)})")
    return query["code"]


def _token_request(target: Target, **form: str) -> requests.Response:
    data = {"client_id": target.client_id or "", "client_secret": target.client_secret or ""}
    data.update(form)
    return target.request("POST", f"{target.base_url}/oauth/token", data=data)


def _exchange(target: Target, code: str, **extra: str) -> requests.Response:
    assert target.redirect_uri is not None
    return _token_request(
        target,
        grant_type="authorization_code",
        code=code,
        redirect_uri=target.redirect_uri,
        **extra,
    )


def _tokens(target: Target, response: requests.Response) -> dict[str, Any]:
    """A successful token response, checked for Doorkeeper's shape."""
    data = body(response)
    if response.status_code != 200 or not isinstance(data, dict):
        raise Broken(shown(response))
    for name in ("access_token", "refresh_token"):
        target.remember_secret(data.get(name))
    check(isinstance(data.get("access_token"), str), "no access_token")
    check(
        str(data.get("token_type", "")).lower() == "bearer",
        f"token_type {data.get('token_type')!r}",
    )
    if "expires_in" in data:
        check(
            isinstance(data["expires_in"], int) and data["expires_in"] > 0,
            f"expires_in {data['expires_in']!r}",
        )
    check(
        "no-store" in response.headers.get("Cache-Control", ""),
        f"Cache-Control {response.headers.get('Cache-Control')!r}",
    )
    return data


def _oauth_error(response: requests.Response, status: int, *errors: str) -> str:
    data = body(response)
    error = data.get("error") if isinstance(data, dict) else None
    check(response.status_code == status and error in errors, shown(response))
    return f"{status} {error}"


def _signs_in_as(target: Target, token: str) -> Any:
    data = body(target.get("/profile", bearer=token)) or {}
    return data.get("id") if isinstance(data, dict) else None


@contract(
    "oauth.authorize_denied",
    "A user who denies the authorization is sent back to the redirect_uri with "
    "error=access_denied and the state.",
    tags={"oauth"},
    needs={"browser"},
)
def authorize_denied(target: Target) -> str:
    back, state = _authorize(target, approve=False)
    query = _back_to_site(target, back)
    check(query.get("error") == "access_denied", f"error {query.get('error')!r}")
    check(query.get("state") == state, f"state came back as {query.get('state')!r}")
    check("code" not in query, "a code came back with the denial")
    return "access_denied, state echoed"


@contract(
    "oauth.authorize_bad_response_type",
    "An unsupported response_type never gets a code or token: an error page, or a redirect "
    "back with error=unsupported_response_type.",
    tags={"oauth"},
    needs={"browser"},
)
def authorize_bad_response_type(target: Target) -> str:
    back, _ = _authorize(target, {"response_type": "contract-probe"})
    if back is None:
        return "an error page"
    query = _back_to_site(target, back)
    check("code" not in query and "access_token" not in back, "a grant came back")
    check(query.get("error") == "unsupported_response_type", f"error {query.get('error')!r}")
    return "a redirect back with error=unsupported_response_type"


@contract(
    "oauth.code_exchange",
    "A code from the authorize redirect trades once at POST /oauth/token for "
    '{access_token, token_type: "Bearer", expires_in?, refresh_token?} with Cache-Control: '
    "no-store; the token signs in at /profile; the same code again gets 400 invalid_grant.",
    tags={"oauth"},
    needs={"browser"},
)
def code_exchange(target: Target) -> str:
    code = _code(target)
    tokens = _tokens(target, _exchange(target, code))
    check(_signs_in_as(target, tokens["access_token"]) is not None, "the new token is anonymous")
    replay = _oauth_error(_exchange(target, code), 400, "invalid_grant")
    lifetime = tokens.get("expires_in")
    return (
        f"expires_in {lifetime if lifetime is not None else '(none)'}, refresh token "
        f"{'yes' if tokens.get('refresh_token') else 'no'}; replay {replay}"
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@contract(
    "oauth.pkce",
    "A code asked for with an S256 code_challenge trades only with its verifier: none gets "
    "400 (invalid_request or invalid_grant), a wrong one 400 invalid_grant, the right one "
    "tokens.",
    tags={"oauth"},
    needs={"browser"},
)
def pkce(target: Target) -> str:
    verifier, challenge = pkce_pair()
    target.remember_secret(verifier)
    code = _code(target, code_challenge=challenge, code_challenge_method="S256")
    missing = _oauth_error(_exchange(target, code), 400, "invalid_request", "invalid_grant")
    wrong = _oauth_error(
        _exchange(target, code, code_verifier=pkce_pair()[0]), 400, "invalid_grant"
    )
    _tokens(target, _exchange(target, code, code_verifier=verifier))
    return f"no verifier: {missing}; wrong verifier: {wrong}; right verifier: 200"


@contract(
    "oauth.refresh",
    "A refresh token trades at POST /oauth/token (grant_type=refresh_token) for a new access "
    "token that signs in.",
    tags={"oauth"},
    needs={"browser"},
)
def refresh(target: Target) -> str:
    tokens = _tokens(target, _exchange(target, _code(target)))
    if not tokens.get("refresh_token"):
        return "no refresh token issued (a regime without refresh)"
    fresh = _tokens(
        target,
        _token_request(target, grant_type="refresh_token", refresh_token=tokens["refresh_token"]),
    )
    check(fresh["access_token"] != tokens["access_token"], "the same access token came back")
    check(_signs_in_as(target, fresh["access_token"]) is not None, "the new token is anonymous")
    rotated = fresh.get("refresh_token") not in (None, tokens["refresh_token"])
    return "new access token; refresh token " + ("rotated" if rotated else "kept")


@contract(
    "oauth.token_errors",
    "POST /oauth/token answers Doorkeeper's errors: 401 invalid_client for an unknown client, "
    "400 invalid_grant for an unknown code, 400 unsupported_grant_type for a grant it does "
    "not know; each {error, error_description}.",
    tags={"oauth", "read"},
    needs={"client"},
)
def token_errors(target: Target) -> str:
    seen = []
    response = target.request(
        "POST",
        f"{target.base_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": "contract-probe-code",
            "redirect_uri": PROBE_REDIRECT,
            "client_id": "contract-probe-unknown-client",
            "client_secret": "contract-probe-secret",
        },
    )
    seen.append(_oauth_error(response, 401, "invalid_client"))
    response = _token_request(
        target,
        grant_type="authorization_code",
        code="contract-probe-code",
        redirect_uri=target.redirect_uri or PROBE_REDIRECT,
    )
    seen.append(_oauth_error(response, 400, "invalid_grant"))
    check(
        isinstance((body(response) or {}).get("error_description"), str),
        f"no error_description: {shown(response)}",
    )
    response = _token_request(target, grant_type="urn:example:contract-probe")
    seen.append(_oauth_error(response, 400, "unsupported_grant_type"))
    return ", ".join(seen)


@contract(
    "oauth.revoke_unknown",
    "POST /oauth/revoke with the app's credentials answers 200 {} for a token it does not "
    "know (RFC 7009).",
    tags={"oauth", "read"},
    needs={"client"},
    guess="/oauth/revoke exists and answers 200 {} for unknown tokens (Doorkeeper's default, "
    "unknown at SeeClickFix).",
)
def revoke_unknown(target: Target) -> str:
    response = target.request(
        "POST",
        f"{target.base_url}/oauth/revoke",
        data={
            "token": "contract-probe-" + secrets.token_urlsafe(16),
            "client_id": target.client_id or "",
            "client_secret": target.client_secret or "",
        },
    )
    check(response.status_code == 200 and body(response) in ({}, None), shown(response))
    return shown(response)


@contract(
    "oauth.revoke",
    "Revoking an access token with the app's credentials answers 200; the token then signs "
    "nobody in, token info refuses it with 401, and its refresh token gets invalid_grant.",
    tags={"oauth"},
    needs={"browser"},
)
def revoke(target: Target) -> str:
    tokens = _tokens(target, _exchange(target, _code(target)))
    response = target.request(
        "POST",
        f"{target.base_url}/oauth/revoke",
        data={
            "token": tokens["access_token"],
            "client_id": target.client_id or "",
            "client_secret": target.client_secret or "",
        },
    )
    check(response.status_code == 200, f"revoke answered {shown(response)}")
    who = _signs_in_as(target, tokens["access_token"])
    check(who is None, f"the revoked token still signs in as {who}")
    info = target.request(
        "GET", f"{target.base_url}/oauth/token/info", bearer=tokens["access_token"]
    )
    check(info.status_code == 401, f"token info of the revoked token: {shown(info)}")
    if tokens.get("refresh_token"):
        again = _token_request(
            target, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        _oauth_error(again, 400, "invalid_grant")
        return "revoked: anonymous, token info 401, refresh invalid_grant"
    return "revoked: anonymous, token info 401"


@contract(
    "oauth.token_info",
    "GET /oauth/token/info with the user's token answers {resource_owner_id (the /profile "
    "id), scope, expires_in, application: {uid}, created_at}; a bad token gets 401.",
    tags={"oauth", "read"},
    needs={"user", "bearer"},
    guess="/oauth/token/info exists, as in Doorkeeper (unknown at SeeClickFix; the implicit "
    "flow's audience check relies on it).",
)
def token_info(target: Target) -> str:
    assert target.token is not None
    response = target.request("GET", f"{target.base_url}/oauth/token/info", bearer=target.token)
    data = body(response)
    check(response.status_code == 200 and isinstance(data, dict), shown(response))
    me = profile_id(target)
    check(
        data.get("resource_owner_id") == me, f"resource_owner_id {data.get('resource_owner_id')!r}"
    )
    missing = [k for k in ("scope", "expires_in", "created_at") if k not in data]
    check(not missing, f"token info lacks {missing}")
    application = data.get("application")
    check(application is None or isinstance(application, dict), f"application {application!r}")
    bad = target.request(
        "GET", f"{target.base_url}/oauth/token/info", bearer="contract-probe-not-a-token"
    )
    check(bad.status_code == 401, f"a bad token's token info: {shown(bad)}")
    uid = (application or {}).get("uid")
    # A personal access token belongs to no application, an app's token to that app: said,
    # not asserted, since the target's token need not come from the target's client.
    whose = "none" if uid is None else "this client" if uid == target.client_id else "another"
    return f"resource_owner_id {me}, application: {whose}; bad token 401"
