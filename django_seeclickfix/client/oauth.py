"""SeeClickFix's OAuth2 endpoints (a Doorkeeper server): code exchange, refresh, revoke, info.

Client authentication goes in the form body (``client_id`` and ``client_secret``), not in a Basic
header. Doorkeeper accepts both; the body is what SeeClickFix documented when it documented the
code flow (2016-2019), it has the same shape for public clients (no secret, PKCE only), and it
avoids the form-urlencoding step RFC 6749 §2.3.1 requires before Basic-encoding a secret, which
servers and clients disagree on for secrets with special characters.

These calls go through the same :class:`ApiSession` as the API (User-Agent, timeouts, size cap,
redaction, rate budget). Nothing here retries; the caller (``tokens.py``, a Celery task) does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from secrets import token_urlsafe
from typing import Any
from urllib.parse import urlencode

from ..conf import app_settings
from ..exceptions import OAuthError, ReauthRequired, TransientError
from . import parsing
from .auth import BearerAuth, sendable_token
from .error_mapping import server_message
from .session import ApiSession, HttpResponse, redact_value

TOKEN_FIELDS = ("access_token", "refresh_token")
AUTHORIZE_RESERVED = frozenset(
    {
        "client_id",
        "redirect_uri",
        "response_type",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
)
# Longer than any access token lifetime a server means (and far below where computing the expiry
# date overflows): an answer beyond it is nonsense, not a token to store.
MAX_EXPIRES_IN = 10 * 365 * 86400


@dataclass(frozen=True, repr=False)
class TokenResponse:
    """A successful answer of ``/oauth/token``.

    ``expires_in`` is ``None`` when SeeClickFix did not send one (the token does not expire);
    ``refresh_token`` is ``None`` when none was issued. ``raw`` is the rest of the JSON answer,
    **without** the two tokens, so it can be logged or stored as extra data.
    """

    access_token: str
    token_type: str
    expires_in: int | None
    refresh_token: str | None
    scope: str | None
    created_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def expires_at(self, now: datetime) -> datetime | None:
        """When the access token expires, counted from ``now`` (when the answer arrived)."""
        if self.expires_in is None:
            return None
        return now + timedelta(seconds=self.expires_in)

    def __repr__(self) -> str:
        return (
            f"TokenResponse(token_type={self.token_type!r}, expires_in={self.expires_in!r}, "
            f"refresh_token={'…' if self.refresh_token else None}, scope={self.scope!r})"
        )

    @classmethod
    def from_json(cls, body: Any) -> TokenResponse:
        if not isinstance(body, Mapping):
            raise OAuthError(
                "SeeClickFix's token endpoint answered without a JSON object.",
                error="invalid_response",
                status=200,
            )
        access_token = parsing.text(body.get("access_token"))
        if not access_token:
            raise OAuthError(
                "SeeClickFix's token endpoint answered 200 without an access_token.",
                error="invalid_response",
                status=200,
            )
        if not sendable_token(access_token):
            raise OAuthError(
                "SeeClickFix's token endpoint answered an access_token that cannot be sent in "
                "a header (characters outside visible ASCII).",
                error="invalid_response",
                status=200,
            )
        expires_in = parsing.integer(body.get("expires_in"))
        if expires_in is not None and expires_in > MAX_EXPIRES_IN:
            raise OAuthError(
                f"SeeClickFix's token endpoint answered an expires_in of {expires_in} s, over "
                f"{MAX_EXPIRES_IN} s (ten years).",
                error="invalid_response",
                status=200,
            )
        return cls(
            access_token=access_token,
            token_type=parsing.text(body.get("token_type")) or "Bearer",
            expires_in=expires_in if expires_in is not None and expires_in >= 0 else None,
            refresh_token=parsing.text(body.get("refresh_token")),
            scope=parsing.text(body.get("scope")),
            created_at=parsing.timestamp(body.get("created_at")),
            raw={key: value for key, value in body.items() if key not in TOKEN_FIELDS},
        )


class OAuthClient:
    """The OAuth endpoints of one SeeClickFix host.

    ``base_url`` is the host root (``https://seeclickfix.com``, the emulator's URL); ``None``
    reads ``SEECLICKFIX``'s environment/BASE_URL at each call, so ``override_settings`` works.
    """

    def __init__(
        self,
        base_url: str | None,
        client_id: str,
        client_secret: str | None = None,
        *,
        session: ApiSession | None = None,
    ) -> None:
        if not client_id:
            raise ValueError("OAuthClient needs a client_id.")
        self._base_url = base_url.rstrip("/") if base_url else None
        self.client_id = client_id
        self._client_secret = client_secret or None
        self.session = session or ApiSession()

    def __repr__(self) -> str:
        secret = "…" if self._client_secret else None
        return f"OAuthClient({self.base_url!r}, {self.client_id!r}, client_secret={secret})"

    @property
    def base_url(self) -> str:
        if self._base_url:
            return self._base_url
        return app_settings.base_url

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url}/oauth/revoke"

    @property
    def token_info_url(self) -> str:
        return f"{self.base_url}/oauth/token/info"

    def authorization_url(
        self,
        redirect_uri: str,
        state: str,
        *,
        response_type: str = "code",
        code_challenge: str | None = None,
        code_challenge_method: str = "S256",
        scope: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Where to send the user's browser to authorise this app.

        ``extra`` (a provider's ``AUTH_PARAMS``) is sent too, but never replaces a parameter
        the flow's security rests on (client, redirect URI, response type, state, PKCE).
        """
        params = {
            key: value for key, value in (extra or {}).items() if key not in AUTHORIZE_RESERVED
        }
        params.update(
            {
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "response_type": response_type,
                "state": state,
            }
        )
        if code_challenge:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = code_challenge_method
        if scope:
            params["scope"] = scope
        return f"{self.authorize_url}?{urlencode(params)}"

    def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenResponse:
        """Trade an authorization code for tokens."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self._token_request(form, secrets=(code, code_verifier))

    def credentials_accepted(self, redirect_uri: str) -> bool:
        """Whether the token endpoint accepts this client's id and secret, without issuing
        anything: it exchanges a code nobody issued. Doorkeeper checks the client before the
        code, so ``invalid_client`` (401) means the credentials are wrong and ``invalid_grant``
        that they passed. Any other refusal is raised (an ``OAuthError`` with its code, a
        ``TransientError``...). ``redirect_uri`` must be non-empty, or Doorkeeper answers
        ``invalid_request`` before looking at the client."""
        unissued = "seeclickfix-check-" + token_urlsafe(24)
        try:
            self.exchange_code(unissued, redirect_uri)
        except ReauthRequired:
            return True
        except OAuthError as err:
            if err.error == "invalid_client":
                return False
            raise
        raise OAuthError(
            "SeeClickFix's token endpoint issued a token for a code nobody issued.",
            error="invalid_response",
            status=200,
        )

    def refresh(self, refresh_token: str) -> TokenResponse:
        """A new access token (and perhaps a new refresh token: store it before using it)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._token_request(form, secrets=(refresh_token,))

    def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """Revoke a token (RFC 7009). A 200 for a token the server does not know is success."""
        form = {"token": token}
        if token_type_hint:
            form["token_type_hint"] = token_type_hint
        response = self._post(self.revoke_url, form, secrets=(token,))
        if 200 <= response.status < 300:
            return
        self._raise(response, "revoke", secrets=(token,))

    def token_info(self, access_token: str) -> dict[str, Any]:
        """Doorkeeper's ``/oauth/token/info`` for ``access_token``; 401 → ``ReauthRequired``."""
        credential = BearerAuth(access_token).credential()
        response = self.session.request("GET", self.token_info_url, credential=credential)
        if response.status == 401:
            raise ReauthRequired("SeeClickFix does not accept this access token any more.")
        if 200 <= response.status < 300:
            body = response.json()
            if isinstance(body, dict):
                return body
            raise TransientError(
                "SeeClickFix's token info answered without a JSON object.",
                status=response.status,
            )
        self._raise(response, "token info", secrets=(access_token,))
        raise AssertionError("unreachable")  # pragma: no cover

    # internals ---------------------------------------------------------------------------------

    def _client_form(self) -> dict[str, str]:
        form = {"client_id": self.client_id}
        if self._client_secret:
            form["client_secret"] = self._client_secret
        return form

    def _post(
        self, url: str, form: Mapping[str, str], *, secrets: tuple[str | None, ...]
    ) -> HttpResponse:
        return self.session.request(
            "POST",
            url,
            data={**form, **self._client_form()},
            secrets=(*secrets, self._client_secret),
        )

    def _token_request(
        self, form: Mapping[str, str], *, secrets: tuple[str | None, ...]
    ) -> TokenResponse:
        response = self._post(self.token_url, form, secrets=secrets)
        if 200 <= response.status < 300:
            return TokenResponse.from_json(response.json())
        self._raise(response, form["grant_type"], secrets=secrets)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise(self, response: HttpResponse, what: str, *, secrets: tuple[str | None, ...]) -> None:
        status = response.status
        if status >= 500 or status in (408, 425):
            raise TransientError(f"SeeClickFix's OAuth {what} failed with {status}.", status=status)
        body = redact_value(response.error_body(), (*secrets, self._client_secret))
        error = body.get("error") if isinstance(body, Mapping) else None
        said = server_message(body)
        if error == "invalid_grant":
            raise ReauthRequired(
                f"SeeClickFix refused the grant ({what}, invalid_grant): the user must connect "
                "again."
            )
        code = error if isinstance(error, str) and error.isidentifier() else "invalid_response"
        raise OAuthError(
            f"SeeClickFix's OAuth {what} failed with {status} ({code})"
            + (f": {said}" if said and said != code else "."),
            error=code,
            status=status,
            body=body,
            response=response.response,
        )


__all__ = ["OAuthClient", "TokenResponse"]
