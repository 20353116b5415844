"""Revoking tokens at SeeClickFix (RFC 7009): every grant the library no longer uses.

Tokens are revoked when a link is disconnected or deleted, when a reconnect replaces them, and
when a refresh replaces them (with Doorkeeper's default migration the previous pair stays valid
until the new access token is first used, so a refresh the site never follows with a request
would otherwise leave a live grant behind).

:func:`queue_revocation` writes a :class:`~django_seeclickfix.models.SeeClickFixRevocation` row
(the tokens encrypted) in the caller's transaction and wakes the ``revoke_tokens`` task after
commit with the row's id; the outbox sweeper wakes it again if that message is lost.
:func:`revoke` (what the task runs) then:

* sends the tokens only to the host that issued them (``issuer``); a row from another host
  (the configuration changed since) fails, saying where to revoke them;
* never revokes a token that a live link holds again (a reconnect under ``reuse_access_token``
  gets the same token back): such tokens are dropped from the row, and a row left with nothing
  to revoke ends ``skipped``;
* revokes the refresh token first, then the access token; a 200 for a token SeeClickFix no
  longer knows counts as done. ``TransientError`` / ``RateLimited`` propagate (the task
  retries); a refusal (``unauthorized_client`` for a confidential app registered without a
  secret, ``invalid_client``) ends the row ``failed`` with what the site owner can do, and the
  ``revocation_finished`` signal says so. Finished rows keep no tokens.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .client.oauth import OAuthClient
from .conf import app_settings
from .exceptions import (
    MAX_ERROR_LENGTH,
    OAuthError,
    SeeClickFixError,
    TokenDecryptionError,
    error_text,
)
from .models import (
    AccountStatus,
    RevocationReason,
    RevocationStatus,
    SeeClickFixAccount,
    SeeClickFixRevocation,
)
from .oauth_app import oauth_client
from .outbox import wake_on_commit
from .sealing import open_revocation
from .signals import revocation_finished

logger = logging.getLogger(__name__)

HOW_TO_REVOKE = (
    "SeeClickFix may still honour these tokens: the user can remove this site on "
    "SeeClickFix's authorized applications (de-authorise) page"
)


def queue_revocation(
    account: SeeClickFixAccount,
    *,
    access_token: str | None,
    refresh_token: str | None,
    reason: str,
    keep_account: bool = True,
) -> SeeClickFixRevocation | None:
    """Owe SeeClickFix the revocation of these tokens of ``account`` (``None`` when there is
    nothing to revoke). ``keep_account=False`` for an account about to be deleted."""
    if not access_token and not refresh_token:
        return None
    row = SeeClickFixRevocation.objects.create(
        account=account if keep_account else None,
        environment=account.environment,
        user_scf_id=account.user_scf_id,
        issuer=account.issuer or app_settings.base_url,
        access_token=access_token,
        refresh_token=refresh_token,
        reason=reason,
    )
    wake_on_commit(row)
    return row


def queue_legacy_revocation(sealed: str) -> SeeClickFixRevocation:
    """A 0.1 ``revoke_tokens`` message carried a sealed bundle instead of a row id: owe it as
    a row like any other (bound to the configured host, as 0.1 sent it there)."""
    access, refresh = open_revocation(sealed)
    return SeeClickFixRevocation.objects.create(
        environment=app_settings.ENVIRONMENT,
        user_scf_id=0,
        issuer=app_settings.base_url,
        access_token=access,
        refresh_token=refresh,
        reason=RevocationReason.DISCONNECT,
    )


def fingerprint(token: str) -> str:
    """SHA-256 of a token: enough to recognise it again, useless to use it."""
    return hashlib.sha256(token.encode()).hexdigest()


def _tokens_of(account: SeeClickFixAccount | None) -> set[str]:
    if account is None:
        return set()
    try:
        held = {account.access_token, account.refresh_token}
    except TokenDecryptionError:
        return set()  # unreadable tokens are nobody's: they cannot be sent anywhere
    return {token for token in held if token}


def _finish(row: SeeClickFixRevocation, status: str, error: str = "") -> None:
    row.status = status
    row.error = error[:MAX_ERROR_LENGTH]
    row.access_token = None
    row.refresh_token = None
    row.completed_at = timezone.now()
    row.save(
        update_fields=[
            "status",
            "error",
            "access_token",
            "refresh_token",
            "revoked_fingerprints",
            "completed_at",
            "updated_at",
        ]
    )
    log = logger.warning if status == RevocationStatus.FAILED else logger.info
    log("SeeClickFix revocation %s: %s%s", row.pk, status, f" ({error})" if error else "")
    transaction.on_commit(
        lambda: revocation_finished.send(
            sender=SeeClickFixRevocation, revocation=row, status=str(status)
        )
    )


def revoke(revocation_id: int, *, client: OAuthClient | None = None) -> str:
    """Revoke what row ``revocation_id`` owes (see the module docstring); returns its status."""
    owner = (
        SeeClickFixRevocation.objects.filter(pk=revocation_id)
        .values_list("environment", "user_scf_id")
        .first()
    )
    if owner is None:
        return str(RevocationStatus.SKIPPED)
    environment, user_scf_id = owner
    with transaction.atomic():
        # The live link first, then the row: linking's order, so the two never deadlock. Both
        # stay locked while SeeClickFix answers, so a reconnect of this user waits for the
        # answer and then sees it (linking refuses a token revoked here).
        live = (
            SeeClickFixAccount.objects.select_for_update()
            .filter(environment=environment, user_scf_id=user_scf_id)
            .exclude(status=AccountStatus.REVOKED)
            .first()
        )
        row = SeeClickFixRevocation.objects.select_for_update().get(pk=revocation_id)
        if row.is_final:
            return str(row.status)
        row.attempts += 1
        row.save(update_fields=["attempts", "updated_at"])
        if row.issuer != app_settings.base_url:
            _finish(
                row,
                RevocationStatus.FAILED,
                f"Issued by {row.issuer}; this site is configured for {app_settings.base_url}, "
                f"so they were not sent anywhere. Revoke them at {row.issuer}. {HOW_TO_REVOKE}.",
            )
            return str(row.status)
        try:
            access, refresh = row.access_token, row.refresh_token
        except TokenDecryptionError:
            _finish(row, RevocationStatus.FAILED, f"The tokens are unreadable. {HOW_TO_REVOKE}.")
            return str(row.status)
        held = _tokens_of(live)
        owed = [
            (token, hint)
            for token, hint in ((refresh, "refresh_token"), (access, "access_token"))
            if token and token not in held
        ]
        if not owed:
            _finish(row, RevocationStatus.SKIPPED, "A live link holds these tokens again.")
            return str(row.status)
        client = client or oauth_client()
        try:
            for token, hint in owed:
                client.revoke(token, token_type_hint=hint)
        except OAuthError as err:
            _finish(row, RevocationStatus.FAILED, f"{error_text(err)} {HOW_TO_REVOKE}.")
            return str(row.status)
        except SeeClickFixError as err:
            if row.created_at < timezone.now() - timedelta(seconds=app_settings.OUTBOX_MAX_AGE):
                _finish(row, RevocationStatus.FAILED, f"{error_text(err)} {HOW_TO_REVOKE}.")
                return str(row.status)
            # Worth retrying (the task's policy, then the sweeper); the reason stays visible.
            SeeClickFixRevocation.objects.filter(pk=row.pk).update(error=error_text(err))
            raise
        row.revoked_fingerprints = " ".join(fingerprint(token) for token, _hint in owed)
        _finish(row, RevocationStatus.REVOKED)
    return str(row.status)


def settle_for_relink(environment: str, user_scf_id: int, tokens: set[str]) -> bool:
    """Called by linking, under its lock of the account rows, with the tokens a (re)connect
    brings. Pending revocations of those tokens drop them (a live link holds them again);
    returns ``False`` if SeeClickFix handed back a token this library already revoked."""
    # A token handed back by a reconnect was valid when the flow started (STATE_MAX_AGE ago at
    # most), so older revocations cannot have killed it.
    since = timezone.now() - timedelta(seconds=app_settings.STATE_MAX_AGE)
    rows = (
        SeeClickFixRevocation.objects.select_for_update()
        .filter(environment=environment, user_scf_id=user_scf_id)
        .filter(
            Q(status=RevocationStatus.PENDING)
            | Q(status=RevocationStatus.REVOKED, completed_at__gte=since)
        )
        .order_by("pk")
    )
    prints = {fingerprint(token) for token in tokens}
    for row in rows:
        if row.status == RevocationStatus.REVOKED:
            if prints & set(row.revoked_fingerprints.split()):
                return False
            continue
        try:
            access, refresh = row.access_token, row.refresh_token
        except TokenDecryptionError:
            continue
        if access in tokens or refresh in tokens:
            row.access_token = None if access in tokens else access
            row.refresh_token = None if refresh in tokens else refresh
            if row.access_token is None and row.refresh_token is None:
                _finish(row, RevocationStatus.SKIPPED, "A live link holds these tokens again.")
            else:
                row.save(update_fields=["access_token", "refresh_token", "updated_at"])
    return True


__all__ = [
    "fingerprint",
    "queue_legacy_revocation",
    "queue_revocation",
    "revoke",
    "settle_for_relink",
]
