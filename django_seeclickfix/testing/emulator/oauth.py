"""The OAuth 2 server, modelled on Doorkeeper (the Rails server SeeClickFix runs).

Endpoints: ``GET/POST /oauth/authorize`` (sign-in and approval pages; ``response_type`` ``code``
and ``token``), ``POST /oauth/token`` (``authorization_code`` and ``refresh_token`` grants;
client authentication in the body or with HTTP Basic), ``POST /oauth/revoke`` (RFC 7009) and
``GET /oauth/token/info``. Error bodies, status codes and descriptions are Doorkeeper's.

Token regimes (per application): ``non_expiring``; ``refresh`` (expiring, with refresh tokens;
rotation on or off; with rotation, presenting a rotated refresh token again revokes every token
of that authorisation); ``no_refresh`` (expiring, no refresh token: the user must come back).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from . import pages
from .http import Response, html_response, json_response, redirect
from .models import TOKEN_REGIMES, App, BrowserSession, Grant, Token, User

if TYPE_CHECKING:
    from .clock import Clock
    from .config import Behaviour
    from .context import Context
    from .state import State

CODE_LIFETIME = 600  # Doorkeeper's authorization_code_expires_in default
SESSION_COOKIE = "_scf_emulator_session"
PERSONAL_TOKEN_LIMIT = 20
PERSONAL_TOKEN_MAX_LIFETIME = 365 * 86400

SCF_LOGIN_CHOICES = ("choose", "register")
MESSAGES = {
    "invalid_request": "The request is missing a required parameter, includes an unsupported "
    "parameter value, or is otherwise malformed.",
    "invalid_redirect_uri": "The requested redirect uri is malformed or doesn't match client "
    "redirect URI.",
    "unauthorized_client": "The client is not authorized to perform this request using this "
    "method.",
    "access_denied": "The resource owner or authorization server denied the request.",
    "invalid_code_challenge_method": "The code challenge method must be plain or S256.",
    "unsupported_response_type": "The authorization server does not support this response type.",
    "invalid_client": "Client authentication failed due to unknown client, no client "
    "authentication included, or unsupported authentication method.",
    "invalid_grant": "The provided authorization grant is invalid, expired, revoked, does not "
    "match the redirection URI used in the authorization request, or was issued to another "
    "client.",
    "unsupported_grant_type": "The authorization grant type is not supported by the "
    "authorization server.",
}
INVALID_TOKEN_MESSAGES = {
    "revoked": "The access token was revoked",
    "expired": "The access token expired",
    "unknown": "The access token is invalid",
}


def oauth_error(error: str, status: int = 400, **extra: str) -> Response:
    body = {"error": error, "error_description": MESSAGES[error], **extra}
    headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Basic realm="Doorkeeper"'))
    return json_response(body, status=status, headers=headers)


def invalid_token_response(reason: str, status: int = 401) -> Response:
    description = INVALID_TOKEN_MESSAGES[reason]
    headers = []
    if status == 401:
        headers.append(
            (
                "WWW-Authenticate",
                f'Bearer realm="Doorkeeper", error="invalid_token", '
                f'error_description="{description}"',
            )
        )
    return json_response(
        {"error": "invalid_token", "error_description": description},
        status=status,
        headers=headers,
    )


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _with_params(uri: str, params: dict[str, str], fragment: bool) -> str:
    encoded = urlencode({k: v for k, v in params.items() if v is not None})
    if fragment:
        return f"{uri.split('#')[0]}#{encoded}"
    joiner = "&" if urlsplit(uri).query else "?"
    return f"{uri}{joiner}{encoded}"


@dataclass
class IssuedToken:
    """A token response, as the token endpoint would send it. ``repr`` hides the secrets."""

    access_token: str
    token_type: str
    expires_in: int | None
    refresh_token: str | None
    created_at: int
    scope: str = ""
    token_id: int = 0

    def __repr__(self) -> str:
        return (
            f"IssuedToken(token_id={self.token_id}, expires_in={self.expires_in}, "
            f"refresh_token={'yes' if self.refresh_token else 'no'})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON body: blank fields dropped, like Doorkeeper."""
        body: dict[str, Any] = {"access_token": self.access_token, "token_type": self.token_type}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        if self.scope:
            body["scope"] = self.scope
        body["created_at"] = self.created_at
        return body


class OAuthServer:
    def __init__(self, state: State, behaviour: Behaviour, clock: Clock) -> None:
        self.state = state
        self.behaviour = behaviour
        self.clock = clock

    # applications ------------------------------------------------------------------------------

    def register_app(
        self,
        client_id: str,
        secret: str | None,
        redirect_uris: list[str] | tuple[str, ...],
        *,
        name: str | None = None,
        token_regime: str = "refresh",
        rotate_refresh_tokens: bool = True,
        access_token_lifetime: int = 7200,
        skip_authorization: bool = False,
        refresh_token_revoked_on_use: bool = False,
        confidential: bool | None = None,
    ) -> App:
        if token_regime not in TOKEN_REGIMES:
            raise ValueError(f"token_regime must be one of {TOKEN_REGIMES}, got {token_regime!r}")
        if not redirect_uris:
            raise ValueError("an application needs at least one redirect URI")
        for uri in redirect_uris:
            parts = urlsplit(uri)
            if not parts.scheme or not parts.netloc or parts.fragment:
                raise ValueError(f"redirect URI {uri!r} must be absolute and without a fragment")
        if access_token_lifetime <= 0:
            raise ValueError("access_token_lifetime must be a positive number of seconds")
        app = App(
            client_id=client_id,
            secret=secret,
            redirect_uris=list(redirect_uris),
            name=name or client_id,
            token_regime=token_regime,  # type: ignore[arg-type]
            rotate_refresh_tokens=rotate_refresh_tokens,
            access_token_lifetime=access_token_lifetime,
            skip_authorization=skip_authorization,
            refresh_token_revoked_on_use=refresh_token_revoked_on_use,
            confidential_flag=confidential,
        )
        with self.state.lock:
            self.state.apps[client_id] = app
        return app

    # minting -----------------------------------------------------------------------------------

    def mint(
        self,
        app: App,
        user: User,
        *,
        family: int | None = None,
        implicit: bool = False,
        refresh_token: str | None = None,
        previous: Token | None = None,
    ) -> Token:
        """A new token row for ``user`` through ``app``, following the app's regime."""
        with self.state.lock:
            expires_in = None if app.token_regime == "non_expiring" else app.access_token_lifetime
            wants_refresh = app.token_regime == "refresh" and not implicit
            token = Token(
                id=self.state.next_token(),
                access_token=secrets.token_urlsafe(32),
                refresh_token=(refresh_token or secrets.token_urlsafe(32))
                if wants_refresh
                else None,
                client_id=app.client_id,
                user_id=user.id,
                created_at=self.clock.time(),
                expires_in=expires_in,
                family=family if family is not None else self.state.new_family(),
                previous_token_id=previous.id if previous is not None else None,
            )
            return self.state.store_token(token)

    def _reusable(self, app: App, user: User) -> Token | None:
        """With ``reuse_access_token``: the newest still-valid token of ``user`` through
        ``app``, which Doorkeeper hands back again instead of minting one."""
        if not self.behaviour.reuse_access_token:
            return None
        with self.state.lock:
            live = [
                token
                for token in self.state.tokens_by_access.values()
                if token.client_id == app.client_id
                and token.user_id == user.id
                and self.usable(token) is None
            ]
        return max(live, key=lambda token: token.id) if live else None

    def personal_access_token(
        self,
        user: User,
        *,
        expires_in: int | None = PERSONAL_TOKEN_MAX_LIFETIME,
        value: str | None = None,
    ) -> Token:
        with self.state.lock:
            live = [
                t
                for t in self.state.tokens.values()
                if t.kind == "personal" and t.user_id == user.id and self.usable(t) is None
            ]
            if len(live) >= PERSONAL_TOKEN_LIMIT:
                raise ValueError(f"a user may hold at most {PERSONAL_TOKEN_LIMIT} personal tokens")
            if expires_in is not None and not 0 < expires_in <= PERSONAL_TOKEN_MAX_LIFETIME:
                raise ValueError("personal access tokens live at most one year")
            token = Token(
                id=self.state.next_token(),
                access_token=value or f"cp-{secrets.token_urlsafe(18)}/{secrets.token_hex(6)}-x",
                refresh_token=None,
                client_id=None,
                user_id=user.id,
                created_at=self.clock.time(),
                expires_in=expires_in,
                family=self.state.new_family(),
                kind="personal",
            )
            return self.state.store_token(token)

    @staticmethod
    def issued(token: Token) -> IssuedToken:
        return IssuedToken(
            access_token=token.access_token,
            token_type="Bearer",
            expires_in=token.expires_in,
            refresh_token=token.refresh_token,
            created_at=int(token.created_at),
            scope=token.scope,
            token_id=token.id,
        )

    # using tokens ------------------------------------------------------------------------------

    def usable(self, token: Token) -> str | None:
        """``None`` when the token may be used, else why not: ``revoked`` or ``expired``."""
        if token.revoked_at is not None:
            return "revoked"
        if token.expired(self.clock.time()):
            return "expired"
        return None

    def authenticate_bearer(self, value: str) -> tuple[Token | None, str | None]:
        """The token row behind a bearer value, or why it is refused."""
        with self.state.lock:
            token = self.state.tokens_by_access.get(value)
            if token is None:
                return None, "unknown"
            reason = self.usable(token)
            if reason is not None:
                return None, reason
            self._first_use(token)
            return token, None

    def _first_use(self, token: Token) -> None:
        # Doorkeeper's refresh_token_revoked_on_use: the previous pair dies when the new access
        # token is first used, not when it is issued.
        if token.previous_token_id is None:
            return
        previous = self.state.tokens.get(token.previous_token_id)
        token.previous_token_id = None
        if previous is not None:
            self.state.revoke_token(previous, "rotated")

    def revoke(self, value: str) -> bool:
        """Revoke the row holding this access or refresh token. False if it is unknown."""
        with self.state.lock:
            token = self.state.tokens_by_access.get(value) or self.state.tokens_by_refresh.get(
                value
            )
            if token is None:
                return False
            self.state.revoke_token(token, "revoked")
            return True

    def deauthorize(self, user: User, client_id: str) -> int:
        """The user revokes the application on SeeClickFix's side: all its tokens die."""
        with self.state.lock:
            count = 0
            for token in self.state.tokens.values():
                mine = token.user_id == user.id and token.client_id == client_id
                if mine and token.revoked_at is None:
                    self.state.revoke_token(token, "deauthorized")
                    count += 1
            return count

    # browser sessions --------------------------------------------------------------------------

    def session(self, ctx: Context) -> tuple[BrowserSession, bool]:
        """The browser's session, creating one if needed. The flag says whether it is new."""
        sid = ctx.request.cookie(SESSION_COOKIE)
        with self.state.lock:
            if sid and sid in self.state.sessions:
                return self.state.sessions[sid], False
            session = BrowserSession(id=secrets.token_urlsafe(24), csrf=secrets.token_urlsafe(24))
            self.state.sessions[session.id] = session
            return session, True

    @staticmethod
    def _set_cookie(response: Response, session: BrowserSession, new: bool) -> Response:
        """``response``, carrying the session cookie when the session is ``new``."""
        if new:
            response.headers.append(
                ("Set-Cookie", f"{SESSION_COOKIE}={session.id}; Path=/; HttpOnly; SameSite=Lax")
            )
        return response

    # /oauth/authorize --------------------------------------------------------------------------

    def _pre_authorize(self, params: dict[str, str]) -> tuple[App | None, Response | None]:
        """Doorkeeper's pre-authorisation checks, in its order. Returns the app, or the error
        response (an error page, or a redirect once the redirect URI is known good)."""
        client_id = params.get("client_id", "")
        if not client_id:
            return None, self._error_page("invalid_request")
        app = self.state.apps.get(client_id)
        if app is None:
            return None, self._error_page("invalid_client")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            return None, self._error_page("invalid_request")
        if redirect_uri not in app.redirect_uris:
            return None, self._error_page("invalid_redirect_uri")
        response_type = params.get("response_type", "")
        fragment = response_type == "token"
        state = params.get("state")
        # SeeClickFix's apps pass scf_login=choose (sign in) or register (create an account);
        # what it does with another value is unknown, so the emulator refuses it.
        if params.get("scf_login", "choose") not in SCF_LOGIN_CHOICES:
            return None, self._error_page("invalid_request")
        if not self.behaviour.default_scopes and not params.get("scope"):
            # Doorkeeper without default_scopes: its error page, not a redirect.
            return None, self._error_page("invalid_request", "Missing required parameter: scope.")
        if response_type not in ("code", "token"):
            return None, self._redirect_error(
                redirect_uri, "unsupported_response_type", state, False
            )
        if self.behaviour.pkce and response_type == "code":
            method = params.get("code_challenge_method")
            if params.get("code_challenge") and method not in (None, "", "plain", "S256"):
                return (
                    None,
                    self._redirect_error(
                        redirect_uri,
                        "invalid_request",
                        state,
                        fragment,
                        MESSAGES["invalid_code_challenge_method"],
                    ),
                )
        return app, None

    def _error_page(self, error: str, description: str | None = None) -> Response:
        return html_response(
            pages.error(error, description or MESSAGES[error]),
            status=self.behaviour.error_page_status,
        )

    def _redirect_error(
        self,
        redirect_uri: str,
        error: str,
        state: str | None,
        fragment: bool,
        description: str | None = None,
    ) -> Response:
        params = {
            "error": error,
            "error_description": description or MESSAGES[error],
            "state": state,
        }
        return redirect(_with_params(redirect_uri, params, fragment))  # type: ignore[arg-type]

    def authorize_page(self, ctx: Context) -> Response:
        ctx.log.count("oauth.authorize")
        params = ctx.request.query
        app, error = self._pre_authorize(params)
        if error is not None:
            return error
        assert app is not None
        ctx.notes["client_id"] = app.client_id
        session, new = self.session(ctx)
        if session.user_id is None:
            target = f"/oauth/authorize?{ctx.request.query_string}"
            response = redirect(f"/users/sign_in?return_to={quote(target, safe='')}")
            return self._set_cookie(response, session, new)
        user = self.state.users[session.user_id]
        if app.skip_authorization:
            return self._approve(ctx, app, user, params)
        fields = {
            k: params[k]
            for k in (
                "client_id",
                "redirect_uri",
                "state",
                "response_type",
                "code_challenge",
                "code_challenge_method",
                "scope",
            )
            if params.get(k)
        }
        fields["authenticity_token"] = session.csrf
        return html_response(pages.authorize(app.name, user.name, fields))

    def authorize_decision(self, ctx: Context) -> Response:
        form = ctx.request.form()
        app, error = self._pre_authorize(form)
        if error is not None:
            return error
        assert app is not None
        ctx.notes["client_id"] = app.client_id
        session, _ = self.session(ctx)
        if session.user_id is None or not hmac.compare_digest(
            form.get("authenticity_token", ""), session.csrf
        ):
            return html_response(
                pages.error("invalid_request", "Your session expired; start again."), 422
            )
        fragment = form.get("response_type") == "token"
        if form.get("decision") == "deny" or form.get("_method", "").lower() == "delete":
            ctx.log.count("oauth.authorize.denied")
            return self._redirect_error(
                form["redirect_uri"], "access_denied", form.get("state"), fragment
            )
        return self._approve(ctx, app, self.state.users[session.user_id], form)

    def _approve(self, ctx: Context, app: App, user: User, params: dict[str, str]) -> Response:
        redirect_uri, state = params["redirect_uri"], params.get("state")
        ctx.log.count("oauth.authorize.approved")
        if params.get("response_type") == "token":
            token = self._reusable(app, user) or self.mint(app, user, implicit=True)
            ctx.notes["token_id"] = token.id
            issued = self.issued(token)
            body = {
                "access_token": issued.access_token,
                "token_type": issued.token_type,
                "expires_in": str(issued.expires_in) if issued.expires_in is not None else None,
                "state": state,
            }
            return redirect(_with_params(redirect_uri, body, fragment=True))  # type: ignore[arg-type]
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        if not self.behaviour.pkce:
            challenge = method = None  # a server without PKCE ignores unknown parameters
        elif challenge and not method:
            method = "plain"  # RFC 7636 4.3
        code = self._store_grant(app, user, redirect_uri, challenge, method)
        return redirect(_with_params(redirect_uri, {"code": code, "state": state}, False))  # type: ignore[dict-item]

    def _store_grant(
        self,
        app: App,
        user: User,
        redirect_uri: str,
        code_challenge: str | None,
        code_challenge_method: str | None,
    ) -> str:
        """A new authorization code for ``user`` through ``app``, kept until it is exchanged."""
        grant = Grant(
            code=secrets.token_urlsafe(32),
            client_id=app.client_id,
            user_id=user.id,
            redirect_uri=redirect_uri,
            created_at=self.clock.time(),
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
        )
        with self.state.lock:
            self.state.grants[grant.code] = grant
        return grant.code

    def issue_code(
        self,
        app: App,
        user: User,
        redirect_uri: str,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        """An authorization code as if ``user`` had approved ``app`` (for tests)."""
        if redirect_uri not in app.redirect_uris:
            raise ValueError("redirect_uri is not registered for this application")
        method = (code_challenge_method or "plain") if code_challenge else None
        return self._store_grant(app, user, redirect_uri, code_challenge, method)

    # /users/sign_in ----------------------------------------------------------------------------

    @staticmethod
    def _safe_return_to(value: str) -> str:
        # Only back into the authorise endpoint: the sign-in page must not be an open redirect.
        return value if value.startswith("/oauth/authorize?") else "/"

    def sign_in_page(self, ctx: Context) -> Response:
        session, new = self.session(ctx)
        return_to = self._safe_return_to(ctx.request.query.get("return_to", ""))
        response = html_response(pages.sign_in(return_to, session.csrf))
        return self._set_cookie(response, session, new)

    def sign_in(self, ctx: Context) -> Response:
        form = ctx.request.form()
        session, new = self.session(ctx)
        return_to = self._safe_return_to(form.get("return_to", ""))
        user = self.state.users_by_email.get(form.get("email", "").strip().lower())
        ok_csrf = hmac.compare_digest(form.get("authenticity_token", ""), session.csrf)
        if (
            user is None
            or not ok_csrf
            or not hmac.compare_digest(user.password.encode(), form.get("password", "").encode())
        ):
            ctx.log.count("oauth.sign_in.failed")
            response = html_response(
                pages.sign_in(return_to, session.csrf, "Invalid email or password."), 401
            )
            return self._set_cookie(response, session, new)
        session.user_id = user.id
        ctx.notes["user_id"] = user.id
        ctx.log.count("oauth.sign_in")
        response = redirect(return_to)
        return self._set_cookie(response, session, new)

    def sign_out(self, ctx: Context) -> Response:
        session, _ = self.session(ctx)
        session.user_id = None
        return redirect("/users/sign_in")

    # /oauth/token ------------------------------------------------------------------------------

    def _client_credentials(self, ctx: Context, form: dict[str, str]) -> tuple[str, str | None]:
        header = ctx.request.headers.get("authorization") or ""
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return "", None
            client_id, _, secret = decoded.partition(":")
            # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding
            return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
        return form.get("client_id", ""), form.get("client_secret")

    def _authenticate_client(self, client_id: str, secret: str | None) -> App | None:
        """Doorkeeper 5.5's ``by_uid_and_secret``: a non-confidential app may send its id
        alone (even if it has a secret); otherwise the secret must match, and an app without
        one (a confidential id-only app) never authenticates."""
        app = self.state.apps.get(client_id)
        if app is None:
            return None
        if not secret and not app.confidential:
            return app
        if not secret or app.secret is None:
            return None
        if not hmac.compare_digest(app.secret.encode(), secret.encode()):
            return None
        return app

    def token_endpoint(self, ctx: Context) -> Response:
        form = ctx.request.form()
        grant_type = form.get("grant_type", "")
        ctx.notes["grant_type"] = grant_type or None
        ctx.log.count("oauth.token", f"oauth.token.{grant_type or 'missing'}")
        response = self._token(ctx, form, grant_type)
        if response.status != 200:
            ctx.log.count(f"oauth.token.{grant_type or 'missing'}.error")
        return response

    def _token(self, ctx: Context, form: dict[str, str], grant_type: str) -> Response:
        if not grant_type:
            return oauth_error("invalid_request")
        if grant_type not in ("authorization_code", "refresh_token"):
            return oauth_error("unsupported_grant_type")
        client_id, secret = self._client_credentials(ctx, form)
        ctx.notes["client_id"] = client_id or None
        if grant_type == "authorization_code":
            return self._code_grant(ctx, form, client_id, secret)
        return self._refresh_grant(ctx, form, client_id, secret)

    def _token_success(self, ctx: Context, token: Token) -> Response:
        ctx.notes["token_id"] = token.id
        ctx.notes["user_id"] = token.user_id
        return json_response(
            self.issued(token).as_dict(),
            headers=[("Cache-Control", "no-store"), ("Pragma", "no-cache")],
        )

    def _code_grant(
        self, ctx: Context, form: dict[str, str], client_id: str, secret: str | None
    ) -> Response:
        code, redirect_uri = form.get("code", ""), form.get("redirect_uri", "")
        if not code or not redirect_uri:
            return oauth_error("invalid_request")
        app = self._authenticate_client(client_id, secret)
        if app is None:
            return oauth_error("invalid_client", 401)
        with self.state.lock:
            grant = self.state.grants.get(code)
            if grant is None or grant.client_id != app.client_id:
                return oauth_error("invalid_grant")
            if grant.used:
                # A replayed code: per RFC 6749 4.1.2 revoke what it produced.
                if grant.family is not None:
                    self.state.revoke_family(grant.family, "code_replay")
                ctx.log.count("oauth.code_replay")
                return oauth_error("invalid_grant")
            if self.clock.time() - grant.created_at >= CODE_LIFETIME:
                return oauth_error("invalid_grant")
            if redirect_uri != grant.redirect_uri:
                return oauth_error("invalid_grant")
            if grant.code_challenge:
                verifier = form.get("code_verifier", "")
                expected = s256(verifier) if grant.code_challenge_method == "S256" else verifier
                if not verifier or not hmac.compare_digest(
                    expected.encode(), grant.code_challenge.encode()
                ):
                    ctx.log.count("oauth.pkce_failed")
                    return oauth_error("invalid_grant")
            grant.used = True
            user = self.state.users[grant.user_id]
            token = self._reusable(app, user) or self.mint(app, user)
            grant.family = token.family
            return self._token_success(ctx, token)

    def _refresh_grant(
        self, ctx: Context, form: dict[str, str], client_id: str, secret: str | None
    ) -> Response:
        value = form.get("refresh_token", "")
        if not value:
            return oauth_error("invalid_request")
        with self.state.lock:
            old = self.state.tokens_by_refresh.get(value)
            if old is None:
                return oauth_error("invalid_grant")
            if client_id or secret:
                app = self._authenticate_client(client_id, secret)
                if app is None:
                    return oauth_error("invalid_client", 401)
            else:
                app = None
            if app is None or old.client_id != app.client_id:
                return oauth_error("invalid_grant")
            if old.revoked_at is not None:
                if old.revoked_reason == "rotated":
                    # A rotated refresh token came back: someone holds a stolen copy, or a
                    # client lost a race. Either way the whole authorisation goes.
                    self.state.revoke_family(old.family, "family")
                    ctx.log.count("oauth.refresh_reuse")
                return oauth_error("invalid_grant")
            user = self.state.users[old.user_id]
            if app.rotate_refresh_tokens:
                if app.refresh_token_revoked_on_use:
                    new = self.mint(app, user, family=old.family, previous=old)
                else:
                    self.state.revoke_token(old, "rotated")
                    new = self.mint(app, user, family=old.family)
            else:
                # Same refresh token, new access token; the old access token stops working.
                self.state.revoke_token(old, "refreshed")
                new = self.mint(app, user, family=old.family, refresh_token=old.refresh_token)
            return self._token_success(ctx, new)

    # /oauth/revoke and /oauth/token/info -------------------------------------------------------

    def revoke_endpoint(self, ctx: Context) -> Response:
        ctx.log.count("oauth.revoke")
        form = ctx.request.form()
        value = form.get("token", "")
        if not value:
            return oauth_error("invalid_request")
        client_id, secret = self._client_credentials(ctx, form)
        ctx.notes["client_id"] = client_id or None
        hint = form.get("token_type_hint")
        with self.state.lock:
            lookups = [self.state.tokens_by_access, self.state.tokens_by_refresh]
            if hint == "refresh_token":
                lookups.reverse()
            token = lookups[0].get(value) or lookups[1].get(value)
            if token is None:
                return json_response({})  # RFC 7009: unknown tokens are not an error
            app = self.state.apps.get(token.client_id) if token.client_id else None
            if app is not None and app.confidential:
                caller = self._authenticate_client(client_id, secret)
                if caller is None or caller.client_id != app.client_id:
                    return json_response(
                        {
                            "error": "unauthorized_client",
                            "error_description": "You are not authorized to revoke this token",
                        },
                        status=403,
                    )
            ctx.notes["token_id"] = token.id
            self.state.revoke_token(token, "revoked")
            return json_response({})

    def token_info(self, ctx: Context) -> Response:
        ctx.log.count("oauth.token_info")
        header = ctx.request.headers.get("authorization") or ""
        if not header.lower().startswith("bearer "):
            return invalid_token_response("unknown")
        token, reason = self.authenticate_bearer(header[7:].strip())
        if token is None:
            return invalid_token_response(reason or "unknown")
        ctx.notes["token_id"] = token.id
        expires_at = token.expires_at()
        return json_response(
            {
                "resource_owner_id": token.user_id,
                "scope": [s for s in token.scope.split() if s],
                "expires_in": None
                if expires_at is None
                else max(0, int(expires_at - self.clock.time())),
                "application": {"uid": token.client_id} if token.client_id else None,
                "created_at": int(token.created_at),
            },
            headers=[("Cache-Control", "no-store")],
        )


def parse_fragment(url: str) -> dict[str, str]:
    """The parameters in a URL's fragment (what an implicit-flow redirect carries)."""
    return dict(parse_qsl(urlsplit(url).fragment))
