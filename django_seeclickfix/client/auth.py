"""How the client signs its requests: a fixed bearer token, HTTP Basic, or a token source.

A :class:`TokenSource` is what the account linking implements (``tokens.py``): it hands out a
usable access token and is told when SeeClickFix refused one. The client never stores tokens
anywhere but in memory for the duration of one request, and nothing here shows one in ``repr``.

Every auth produces a :class:`Credential` per request. Its ``identity`` is a hash: it keys the
per-token rate budget and the ETag store, so neither ever holds a token.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..exceptions import ReauthRequired


def sendable_token(token: str) -> bool:
    """Whether ``token`` can travel in an ``Authorization`` header: visible ASCII only.

    Real tokens are base64url, hex or CivicPlus' ``cp-…/…-x``; anything else (a space, a
    control character, a non-ASCII letter) is a broken answer, and ``http.client`` would raise
    ``UnicodeEncodeError`` on the way out instead of sending it.
    """
    return bool(token) and all(0x21 <= ord(ch) <= 0x7E for ch in token)


def identity_of(*parts: str) -> str:
    """A short, stable, one-way name for a credential (never the credential itself)."""
    digest = hashlib.sha256("\x1f".join(parts).encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, repr=False)
class Credential:
    """The ``Authorization`` value for one request, plus what is needed to react to a refusal.

    ``token`` is the bearer token as the auth handed it out (what ``token_rejected`` receives);
    ``secrets`` are the strings that must never appear in logs or messages.
    """

    scheme: str
    header: str = field(repr=False)
    identity: str
    token: str | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return f"Credential({self.scheme}, identity={self.identity[:8]}…)"


class ClientAuth:
    """Base of the client's auth objects."""

    scheme = ""

    def credential(self) -> Credential:
        """The credential for the next request."""
        raise NotImplementedError

    def rejected(self, credential: Credential) -> Credential | None:
        """SeeClickFix refused ``credential``. Return another one to retry with once, or None."""
        return None

    def rejected_again(self, credential: Credential) -> None:
        """The retry's credential was refused too: the link needs the user."""

    def accepted(self, credential: Credential) -> None:
        """SeeClickFix answered a request sent with ``credential`` with a 2xx."""

    @property
    def etag_identity(self) -> str:
        """Who the ETags of this auth belong to (stable across token refreshes if possible)."""
        return self.credential().identity

    def __repr__(self) -> str:
        return f"{type(self).__name__}(…)"


class BearerAuth(ClientAuth):
    """A fixed bearer token: an OAuth access token or a personal access token."""

    scheme = "Bearer"

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("BearerAuth needs a non-empty token.")
        if not sendable_token(token.strip()):
            raise ValueError("BearerAuth needs a token of visible ASCII characters.")
        self._token = token.strip()
        self._credential = _bearer(self._token)

    def credential(self) -> Credential:
        return self._credential


class BasicAuth(ClientAuth):
    """Legacy HTTP Basic with an account's email and password (dedicated API users)."""

    scheme = "Basic"

    def __init__(self, email: str, password: str) -> None:
        if not email or not password:
            raise ValueError("BasicAuth needs an email and a password.")
        encoded = base64.b64encode(f"{email}:{password}".encode()).decode("ascii")
        self._credential = Credential(
            scheme="Basic",
            header=f"Basic {encoded}",
            identity=identity_of("basic", email.strip().lower(), password),
            secrets=(password, encoded),
        )
        self.email = email

    def credential(self) -> Credential:
        return self._credential

    def __repr__(self) -> str:
        return f"BasicAuth({self.email!r}, password=…)"


@runtime_checkable
class TokenSource(Protocol):
    """Supplies access tokens for one linked account (implemented by ``tokens.py``).

    ``get_token()`` returns a token believed valid (refreshing it first when it is about to
    expire). ``token_rejected(token, final=False)`` is called when SeeClickFix refused ``token``
    (401 ``invalid_token``, a 403 classified as invalid token, or ``/profile`` answering
    ``{"id": null}``): return a new token and the client retries **once** with it, or ``None`` to
    give up (the client raises ``ReauthRequired``). If the retry is refused too, the client calls
    ``token_rejected(new_token, final=True)`` (its return value is ignored) and raises
    ``ReauthRequired``.

    A source may also have an ``identity`` attribute (a string that is not a secret, such as
    ``"account:42"``) so that conditional-request ETags survive token refreshes, a
    ``secrets`` attribute (the link's other strings that must never appear in an error, such as
    its refresh token), and a ``token_accepted(token)`` method, called after SeeClickFix
    answered a request sent with ``token`` with a 2xx (a Doorkeeper server revokes the grant a
    refresh replaced at the new token's first use, so the source can forget the old one then).
    """

    def get_token(self) -> str: ...

    def token_rejected(self, token: str, *, final: bool) -> str | None: ...


class TokenSourceAuth(ClientAuth):
    """Bearer auth backed by a :class:`TokenSource` (a linked account)."""

    scheme = "Bearer"

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def credential(self) -> Credential:
        token = self.source.get_token()
        if not isinstance(token, str) or not sendable_token(token.strip()):
            raise ReauthRequired("The linked account has no usable SeeClickFix token.")
        return _bearer(token.strip(), self._other_secrets())

    def rejected(self, credential: Credential) -> Credential | None:
        assert credential.token is not None
        replacement = self.source.token_rejected(credential.token, final=False)
        if not replacement or not sendable_token(replacement.strip()):
            return None
        return _bearer(replacement.strip(), self._other_secrets())

    def rejected_again(self, credential: Credential) -> None:
        assert credential.token is not None
        self.source.token_rejected(credential.token, final=True)

    def accepted(self, credential: Credential) -> None:
        accepted = getattr(self.source, "token_accepted", None)
        if accepted is not None and credential.token is not None:
            accepted(credential.token)

    @property
    def etag_identity(self) -> str:
        named = getattr(self.source, "identity", None)
        if isinstance(named, str) and named:
            return identity_of("source", named)
        return super().etag_identity

    def _other_secrets(self) -> tuple[str, ...]:
        known = getattr(self.source, "secrets", ())
        return tuple(s for s in known if isinstance(s, str) and s)

    def __repr__(self) -> str:
        return f"TokenSourceAuth({type(self.source).__name__})"


def _bearer(token: str, others: tuple[str, ...] = ()) -> Credential:
    return Credential(
        scheme="Bearer",
        header=f"Bearer {token}",
        identity=identity_of("bearer", token),
        token=token,
        secrets=(token, *others),
    )


__all__ = [
    "BasicAuth",
    "BearerAuth",
    "ClientAuth",
    "Credential",
    "TokenSource",
    "TokenSourceAuth",
    "identity_of",
    "sendable_token",
]
