"""A usable access token for a linked account, refreshed as a single flight.

``get_access_token(account)`` re-reads the row (so a disconnect or another worker's refresh is
seen at once) and returns its access token, refreshing it first when it expires within
``TOKEN_REFRESH_MARGIN`` seconds and a refresh token exists. A refresh:

* locks the row (``SELECT ... FOR UPDATE``) and looks again: if another worker refreshed while
  this one waited, its token is used and SeeClickFix is not asked again;
* writes the new tokens only if ``token_version`` is still the one read under the lock, bumps it,
  and commits before the new access token is handed out, so a rotated refresh token is never
  lost and never used twice;
* on ``invalid_grant``, or an expired token without a refresh token, marks the account
  ``reauth_required`` (once: only the ``active`` → ``reauth_required`` transition sends the
  ``reauth_required`` signal) and raises :class:`~django_seeclickfix.exceptions.ReauthRequired`;
* on a transient failure while the old token is still valid, keeps using the old token.

Call it outside ``transaction.atomic()`` where you can: inside one, the refreshed tokens commit
only when your transaction does (and are lost if it rolls back).

``client_for_account`` / ``client_for_user`` build a :class:`SeeClickFixClient` whose auth is an
:class:`AccountTokenSource`, so a token SeeClickFix refuses is refreshed and retried once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .client.auth import TokenSourceAuth
from .client.client import SeeClickFixClient
from .conf import app_settings
from .exceptions import (
    AccountUnavailable,
    RateLimited,
    ReauthRequired,
    SeeClickFixError,
    TokenDecryptionError,
)
from .models import AccountStatus, RevocationReason, SeeClickFixAccount
from .oauth_app import oauth_client
from .revocation import queue_revocation
from .signals import reauth_required, token_refreshed

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from .client.oauth import TokenResponse

logger = logging.getLogger(__name__)

# Re-read on every call: cheap next to an API request, and it is what makes a disconnect, a
# deactivated user or another worker's refresh visible immediately.
STATE_FIELDS = (
    "status",
    "token_version",
    "access_token",
    "refresh_token",
    "previous_refresh_token",
    "token_type",
    "expires_at",
    "token_issued_at",
    "scope",
    "status_changed_at",
    "environment",
)


def _now() -> datetime:
    return timezone.now()


def refresh_due(account: SeeClickFixAccount, now: datetime | None = None) -> bool:
    """The token expires within TOKEN_REFRESH_MARGIN seconds (never for non-expiring ones)."""
    if account.expires_at is None:
        return False
    return account.expires_at - refresh_margin(account) <= (now or _now())


def refresh_margin(account: SeeClickFixAccount) -> timedelta:
    """TOKEN_REFRESH_MARGIN, but at most half the lifetime SeeClickFix gave the token: a margin
    as long as the lifetime would make every request refresh a token it was just given."""
    margin = timedelta(seconds=app_settings.TOKEN_REFRESH_MARGIN)
    if account.expires_at is None or account.token_issued_at is None:
        return margin
    lifetime = account.expires_at - account.token_issued_at
    return min(margin, max(lifetime, timedelta(0)) / 2)


def is_expired(account: SeeClickFixAccount, now: datetime | None = None) -> bool:
    return account.expires_at is not None and account.expires_at <= (now or _now())


def _reload(account: SeeClickFixAccount) -> None:
    account.refresh_from_db(fields=STATE_FIELDS)


def mark_reauth_required(account: SeeClickFixAccount, reason: str) -> bool:
    """Move an ``active`` account to ``reauth_required``; ``True`` if this call did it.

    The transition is one conditional UPDATE, so however many workers notice the breakage at
    once, exactly one of them changes the status, and the ``reauth_required`` signal is sent
    once, after commit.
    """
    now = _now()
    changed = SeeClickFixAccount.objects.filter(pk=account.pk, status=AccountStatus.ACTIVE).update(
        status=AccountStatus.REAUTH_REQUIRED, status_changed_at=now, updated_at=now
    )
    if changed:
        account.status = AccountStatus.REAUTH_REQUIRED
        account.status_changed_at = now
        logger.warning("SeeClickFix account %s needs reconnecting: %s", account.pk, reason)
        pk = account.pk

        def notify() -> None:
            fresh = SeeClickFixAccount.objects.filter(pk=pk).first()
            if fresh is not None:
                reauth_required.send(sender=SeeClickFixAccount, account=fresh, reason=reason)

        transaction.on_commit(notify)
    return bool(changed)


def write_tokens(
    account: SeeClickFixAccount,
    token: TokenResponse,
    *,
    expected_version: int,
    now: datetime | None = None,
    activate: bool = False,
    previous_refresh_token: str | None = None,
) -> bool:
    """Store ``token`` if the row still has ``expected_version``; ``True`` if it was written.

    A refresh response without a refresh token keeps the stored one (SeeClickFix, like most
    Doorkeeper servers, resends it only when it rotates); without a scope it keeps the scope.
    ``previous_refresh_token`` is the replaced one to hold until the new token's first use.
    """
    now = now or _now()
    values: dict[str, Any] = {
        "access_token": token.access_token,
        "previous_refresh_token": previous_refresh_token,
        "token_type": token.token_type or "Bearer",
        "expires_at": token.expires_at(now),
        "token_issued_at": now,
        "token_version": F("token_version") + 1,
        "updated_at": now,
    }
    if token.refresh_token:
        values["refresh_token"] = token.refresh_token
        values["refresh_token_issued_at"] = now
    if token.scope:
        values["scope"] = token.scope[:255]
    if activate:
        values["status"] = AccountStatus.ACTIVE
        values["status_changed_at"] = now
    written = SeeClickFixAccount.objects.filter(
        pk=account.pk, token_version=expected_version
    ).update(**values)
    return written == 1


def get_access_token(account: SeeClickFixAccount) -> str:
    """A usable access token for ``account``, to send a request with now (see the module
    docstring)."""
    _reload(account)
    account.check_usable()
    if refresh_due(account):
        return _refresh(account)
    return str(account.access_token)


def force_refresh(account: SeeClickFixAccount) -> str:
    """Refresh now, whatever the expiry (the admin's "refresh token" action). No request with
    the new token follows, so the replaced grant is revoked explicitly."""
    _reload(account)
    account.check_usable()
    return _refresh(account, force=True, used=False)


def _refresh(
    account: SeeClickFixAccount,
    *,
    rejected: str | None = None,
    force: bool = False,
    used: bool = True,
) -> str:
    """Single-flight refresh. ``rejected``: the token SeeClickFix just refused (forces it);
    ``force``: refresh even if not due (does nothing without a refresh token); ``used``: a
    request with the new token follows at once (see :func:`_replaced`)."""
    reauth_reason: str | None = None
    rotated = False
    with transaction.atomic():
        locked = SeeClickFixAccount.objects.select_for_update().get(pk=account.pk)
        locked.user = account.user
        locked.check_usable()
        now = _now()
        current = str(locked.access_token)
        if rejected is not None and current != rejected:
            # Another worker replaced the refused token while this one waited for the lock.
            _adopt(account, locked)
            return current
        if rejected is None and not force and not refresh_due(locked, now):
            _adopt(account, locked)
            return current
        if not locked.has_refresh_token:
            if rejected is None and not is_expired(locked, now):
                _adopt(account, locked)
                return current  # valid a little longer; nothing to refresh it with
            reauth_reason = (
                "SeeClickFix refused the access token and there is no refresh token."
                if rejected is not None
                else "The access token expired and SeeClickFix issued no refresh token."
            )
            mark_reauth_required(locked, reauth_reason)
        else:
            try:
                response = oauth_client().refresh(str(locked.refresh_token))
            except ReauthRequired:
                reauth_reason = "SeeClickFix refused the refresh token (invalid_grant)."
                mark_reauth_required(locked, reauth_reason)
            except SeeClickFixError as err:
                if rejected is None and not force and not is_expired(locked, now):
                    logger.warning(
                        "Refreshing SeeClickFix account %s failed (%s); the current token is "
                        "still valid and will be used.",
                        locked.pk,
                        type(err).__name__,
                    )
                    _adopt(account, locked)
                    return current
                raise
            else:
                replaced = str(locked.refresh_token)
                rotated = response.refresh_token not in (None, replaced)
                held = _replaced(locked, response, current, replaced, used=used)
                if not write_tokens(
                    locked,
                    response,
                    expected_version=locked.token_version,
                    now=now,
                    previous_refresh_token=held,
                ):
                    # Unreachable under the row lock; on a database without row locks a newer
                    # writer won, and its token is the one to use.
                    logger.warning("SeeClickFix account %s: newer token kept", locked.pk)
    _reload(account)
    if reauth_reason is not None:
        raise ReauthRequired(reauth_reason)
    pk = account.pk
    transaction.on_commit(
        lambda: token_refreshed.send(
            sender=SeeClickFixAccount,
            account=SeeClickFixAccount.objects.get(pk=pk),
            rotated=rotated,
        )
    )
    logger.info("SeeClickFix account %s: access token refreshed", pk)
    return str(account.access_token)


def _replaced(
    account: SeeClickFixAccount,
    response: TokenResponse,
    access: str,
    refresh: str,
    *,
    used: bool,
) -> str | None:
    """Deal with the grant a refresh replaces, in the refresh's transaction; returns the
    refresh token to hold (``previous_refresh_token``).

    Doorkeeper keeps the previous pair valid until the new access token is first used, then
    revokes it (one step back only); without that migration it revokes it at refresh. So when a
    request with the new token follows (``used``), the replaced refresh token is held and
    forgotten at that first use (:meth:`AccountTokenSource.token_accepted`), at no cost;
    otherwise, with ``RETIRE_REPLACED_TOKENS``, or when a held one would become two steps old,
    its revocation is owed now."""
    held = _held(account)
    if not response.refresh_token or response.refresh_token == refresh:
        if response.access_token != access and not (
            used and not app_settings.RETIRE_REPLACED_TOKENS
        ):
            _owe(account, access=access)
        return held
    if held:
        _owe(account, refresh=held)  # a newer generation: SeeClickFix never revokes it now
    if used and not app_settings.RETIRE_REPLACED_TOKENS:
        return refresh
    _owe(account, refresh=refresh)
    return None


def _held(account: SeeClickFixAccount) -> str | None:
    try:
        return account.previous_refresh_token or None
    except TokenDecryptionError:
        return None  # unreadable: cannot be sent anywhere


def _owe(
    account: SeeClickFixAccount, *, access: str | None = None, refresh: str | None = None
) -> None:
    queue_revocation(
        account, access_token=access, refresh_token=refresh, reason=RevocationReason.REFRESH
    )


def forget_replaced(account: SeeClickFixAccount, token: str) -> None:
    """``token`` was just accepted by SeeClickFix: if it is the account's current access token,
    SeeClickFix has revoked the grant its refresh replaced, so the held refresh token goes."""
    if account.__dict__.get("previous_refresh_token") is None:
        return  # nothing held (read from the column: nothing is decrypted)
    try:
        current = account.access_token
    except TokenDecryptionError:
        return
    if current != token:
        return
    SeeClickFixAccount.objects.filter(pk=account.pk, token_version=account.token_version).update(
        previous_refresh_token=None
    )
    account.__dict__["previous_refresh_token"] = None


def _adopt(account: SeeClickFixAccount, locked: SeeClickFixAccount) -> None:
    for name in STATE_FIELDS:
        account.__dict__[name] = locked.__dict__.get(name)


def keep_links_alive(now: datetime | None = None) -> dict[str, int]:
    """What no planned request does for the links (the ``refresh_expiring_tokens`` task).

    1. A link whose access token expired and that holds no refresh token cannot be used again:
       it is marked ``reauth_required`` now (no request), so its user is asked to reconnect.
    2. With ``REFRESH_TOKEN_MAX_AGE`` (SeeClickFix's refresh tokens expire), a refresh token
       about to reach that age (within ``TOKEN_REFRESH_MARGIN``) is used before it dies; no
       request with the new token follows, so the grant it replaces is revoked.

    At most a quarter of the budget until the next run is spent here (the lowest priority).
    ``refreshed`` counts tokens really replaced.
    """
    now = now or _now()
    counts = {"refreshed": 0, "reauth_required": 0, "failed": 0}
    per_run = max(1, int(_run_share()))
    usable = SeeClickFixAccount.objects.usable().select_related("user")
    dead = usable.filter(expires_at__lte=now, refresh_token__isnull=True).order_by("pk")
    for account in dead[:per_run]:
        if mark_reauth_required(
            account, "The access token expired and SeeClickFix issued no refresh token."
        ):
            counts["reauth_required"] += 1
    max_age = app_settings.REFRESH_TOKEN_MAX_AGE
    if not max_age:
        return counts
    old = now - timedelta(seconds=max_age - app_settings.TOKEN_REFRESH_MARGIN)
    aging = usable.filter(refresh_token__isnull=False, refresh_token_issued_at__lte=old)
    for account in aging.order_by("refresh_token_issued_at", "pk")[:per_run]:
        version = account.token_version
        try:
            _refresh(account, force=True, used=False)
        except ReauthRequired:
            counts["reauth_required"] += 1
        except RateLimited:
            logger.info("refresh_expiring_tokens: rate budget used up; the next run goes on")
            break
        except SeeClickFixError as err:
            counts["failed"] += 1
            logger.warning("Refreshing SeeClickFix account %s failed: %s", account.pk, err)
        else:
            counts["refreshed"] += int(account.token_version != version)
    return counts


def _run_share() -> float:
    """A quarter of the requests the budget serves between two runs (every margin / 2)."""
    per_second = app_settings.RATE_LIMIT_REQUESTS / app_settings.RATE_LIMIT_PERIOD
    return float(per_second * app_settings.TOKEN_REFRESH_MARGIN / 2 / 4)


class AccountTokenSource:
    """The client's :class:`~django_seeclickfix.client.auth.TokenSource` for one account."""

    def __init__(self, account: SeeClickFixAccount) -> None:
        self.account = account
        self.identity = f"account:{account.pk}"

    def get_token(self) -> str:
        return get_access_token(self.account)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The link's tokens: an error body that echoes one must not carry it further."""
        account = self.account
        held = (account.access_token, account.refresh_token, account.previous_refresh_token)
        return tuple(t for t in held if t)

    def token_accepted(self, token: str) -> None:
        forget_replaced(self.account, token)

    def token_rejected(self, token: str, *, final: bool) -> str | None:
        if final:
            mark_reauth_required(
                self.account, "SeeClickFix refused the access token again after a refresh."
            )
            return None
        _reload(self.account)
        try:
            return _refresh(self.account, rejected=token)
        except ReauthRequired:
            return None

    def __repr__(self) -> str:
        return f"AccountTokenSource(account={self.account.pk})"


def client_for_account(account: SeeClickFixAccount) -> SeeClickFixClient:
    """A client that acts on SeeClickFix as ``account``'s user, refreshing as needed."""
    _reload(account)
    account.check_usable()
    return SeeClickFixClient(app_settings.base_url, TokenSourceAuth(AccountTokenSource(account)))


def client_for_user(user: AbstractBaseUser | AnonymousUser) -> SeeClickFixClient:
    """``client_for_account`` for ``user``'s account in the configured environment."""
    account = SeeClickFixAccount.objects.for_user(user)
    if account is None:
        raise AccountUnavailable("This user has not connected SeeClickFix.")
    return client_for_account(account)


__all__ = [
    "AccountTokenSource",
    "client_for_account",
    "client_for_user",
    "force_refresh",
    "get_access_token",
    "keep_links_alive",
    "mark_reauth_required",
    "refresh_due",
    "refresh_margin",
    "write_tokens",
]
