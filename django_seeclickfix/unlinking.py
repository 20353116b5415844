"""Disconnecting: the tokens deleted at once, the allauth social account removed, and the
tokens revoked at SeeClickFix in the background.

:func:`unlink_account` deletes the tokens from the account, removes the allauth social account
(unless it is the user's only way to sign in) and, in the same transaction, owes SeeClickFix
the revocation of every token the account held (a
:class:`~django_seeclickfix.models.SeeClickFixRevocation` row, see
:mod:`~django_seeclickfix.revocation`). The same happens when the social account or the
account row is deleted some other way (allauth's own "remove" button, the admin, a deleted
user).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from allauth.socialaccount.internal.flows.connect import validate_disconnect
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.signals import social_account_removed
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from .exceptions import TokenDecryptionError
from .models import AccountStatus, RevocationReason, SeeClickFixAccount, SeeClickFixRevocation
from .provider_id import PROVIDER_ID
from .revocation import queue_revocation
from .signals import account_unlinked

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnlinkResult:
    unlinked: bool
    social_account_removed: bool
    revocation_scheduled: bool


def _can_remove_social_account(request: HttpRequest | None, social: SocialAccount) -> bool:
    """allauth's rule: never remove the last way a user can sign in."""
    try:
        validate_disconnect(request, social)
    except ValidationError:
        return False
    return True


def unlink_account(
    account: SeeClickFixAccount,
    *,
    request: HttpRequest | None = None,
    remove_social_account: bool = True,
) -> UnlinkResult:
    """Disconnect: tokens deleted now, social account removed, revocation in the background."""
    with transaction.atomic():
        locked = SeeClickFixAccount.objects.select_for_update().filter(pk=account.pk).first()
        if locked is None:
            return UnlinkResult(False, False, False)
        had_tokens = locked.holds_tokens
        if locked.status == AccountStatus.REVOKED and not had_tokens:
            return UnlinkResult(False, False, False)
        owed = owe_revocation(locked, RevocationReason.DISCONNECT) if had_tokens else None
        now = timezone.now()
        SeeClickFixAccount.objects.filter(pk=locked.pk).update(
            access_token=None,
            refresh_token=None,
            previous_refresh_token=None,
            expires_at=None,
            token_version=F("token_version") + 1,
            status=AccountStatus.REVOKED,
            status_changed_at=now,
            updated_at=now,
        )
        removed = False
        social = locked.social_account
        if remove_social_account and social is not None:
            if _can_remove_social_account(request, social):
                social.delete()
                removed = True
                social_account_removed.send(
                    sender=SocialAccount, request=request, socialaccount=social
                )
            else:
                logger.info(
                    "SeeClickFix account %s: social account kept (the user's only sign-in)",
                    locked.pk,
                )
        pk, user_id = locked.pk, locked.user_id

        def announce() -> None:
            fresh = SeeClickFixAccount.objects.select_related("user").filter(pk=pk).first()
            if fresh is not None:
                account_unlinked.send(
                    sender=SeeClickFixAccount, account=fresh, user=fresh.user, request=request
                )

        transaction.on_commit(announce)
    account.refresh_from_db()
    logger.info("SeeClickFix account %s of user %s disconnected", pk, user_id)
    return UnlinkResult(True, removed, owed is not None)


@receiver(pre_delete, sender=SocialAccount, dispatch_uid="seeclickfix_social_account_deleted")
def _on_social_account_deleted(sender: Any, instance: SocialAccount, **kwargs: Any) -> None:
    # Covers allauth's own "remove" button, the admin and bulk deletes alike.
    if instance.provider != PROVIDER_ID:
        return
    for account in SeeClickFixAccount.objects.filter(social_account_id=instance.pk):
        unlink_account(account, remove_social_account=False)


@receiver(pre_delete, sender=SeeClickFixAccount, dispatch_uid="seeclickfix_account_deleted")
def _on_account_deleted(sender: Any, instance: SeeClickFixAccount, **kwargs: Any) -> None:
    # A deleted user (or row) must not leave a live grant behind at SeeClickFix. The row does
    # not point at the account, which is about to go.
    if instance.holds_tokens:
        owe_revocation(instance, RevocationReason.DELETED, keep_account=False)


def owe_revocation(
    account: SeeClickFixAccount, reason: str, *, keep_account: bool = True
) -> SeeClickFixRevocation | None:
    """The revocation of every token ``account`` holds, owed in the current transaction
    (``None`` when they cannot be read: they are deleted all the same, but cannot be sent)."""
    try:
        access, refresh = account.access_token, account.refresh_token
        previous = account.previous_refresh_token
    except TokenDecryptionError:
        logger.warning("SeeClickFix account %s: tokens unreadable, not revoked", account.pk)
        return None
    # A refresh token a refresh replaced, whose new token was never used: still live.
    queue_revocation(
        account, access_token=None, refresh_token=previous, reason=reason, keep_account=keep_account
    )
    return queue_revocation(
        account,
        access_token=access,
        refresh_token=refresh,
        reason=reason,
        keep_account=keep_account,
    )


__all__ = ["UnlinkResult", "owe_revocation", "unlink_account"]
