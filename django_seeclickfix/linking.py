"""From a completed allauth login, signup or connect to a :class:`SeeClickFixAccount`.

allauth runs the pipeline; its signals tell us when a SeeClickFix social account was added
(connect), updated (login or connect again) or created with a new user (signup). Each of these
calls :func:`link_account`, which is keyed on (environment, SeeClickFix user id) and never on an
email address:

* a SeeClickFix account linked to another site user is refused (:class:`LinkRefused`), and
  nothing changes (the OAuth views run the pipeline in one transaction);
* linking the same SeeClickFix account again updates its tokens in place (``token_version``
  bumped, status back to ``active``);
* a user has at most one SeeClickFix account per environment: connecting a second one while the
  first is still linked is refused.

The tokens arrive as a sealed bundle (:mod:`~django_seeclickfix.sealing`) in allauth's
``SocialToken``. Disconnecting is :mod:`~django_seeclickfix.unlinking`'s job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from allauth.account.signals import user_signed_up
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.signals import (
    pre_social_login,
    social_account_added,
    social_account_updated,
)
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from .conf import app_settings
from .errorcodes import E_BY_EMAIL, E_ENVIRONMENT, E_LINKED_ELSEWHERE, E_OTHER_ACCOUNT, E_TOKEN
from .exceptions import LinkRefused, TokenDecryptionError
from .models import AccountStatus, RevocationReason, SeeClickFixAccount
from .provider_id import PROVIDER_ID, social_uid
from .revocation import queue_revocation, settle_for_relink
from .sealing import SealedTokens, unseal_tokens
from .signals import account_linked
from .tasks import sync_account

if TYPE_CHECKING:
    from allauth.socialaccount.models import SocialLogin
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

logger = logging.getLogger(__name__)

# Set on the request while the OAuth views run allauth's pipeline (inside their transaction).
IN_FLOW_ATTRIBUTE = "_seeclickfix_in_flow"
# Set on a SocialLogin whose link is already stored (a provider-token sign-in links while
# allauth saves, inside one transaction): the signals that follow have nothing left to do.
LINKED_ATTRIBUTE = "_seeclickfix_linked"


def check_can_link(
    user: AbstractBaseUser | AnonymousUser, environment: str, user_scf_id: int
) -> None:
    """Raise :class:`LinkRefused` if ``user`` may not link this SeeClickFix account.

    Read-only: the OAuth views call it before allauth touches anything; :func:`link_account`
    repeats the checks under row locks. Two queries: allauth's social accounts, then ours (the
    live accounts of this SeeClickFix user or of ``user`` in ``environment``, in one).
    """
    user_pk = user.pk
    if user_pk is None:
        raise LinkRefused(E_LINKED_ELSEWHERE, "no user to link to", status=403)
    uid = social_uid(user_scf_id, environment)
    others_social = SocialAccount.objects.filter(provider=PROVIDER_ID, uid=uid).exclude(
        user_id=user_pk
    )
    if others_social.exists():
        raise LinkRefused(E_LINKED_ELSEWHERE, "linked to another user")
    # Live links of this SeeClickFix user (to another user) or of this user (to another
    # SeeClickFix user): at most one of each, by the unique constraints.
    conflicts = list(
        SeeClickFixAccount.objects.exclude(status=AccountStatus.REVOKED)
        .filter(Q(user_scf_id=user_scf_id) | Q(user_id=user_pk), environment=environment)
        .exclude(user_id=user_pk, user_scf_id=user_scf_id)
        .values_list("user_scf_id", flat=True)[:2]
    )
    if user_scf_id in conflicts:
        raise LinkRefused(E_LINKED_ELSEWHERE, "linked to another user")
    if conflicts:
        raise LinkRefused(E_OTHER_ACCOUNT, "user has another SeeClickFix account linked")


def link_account(
    *,
    user: Any,
    social_account: SocialAccount | None,
    tokens: SealedTokens,
    profile: dict[str, Any],
    request: HttpRequest | None = None,
) -> SeeClickFixAccount:
    """Create or update the user's :class:`SeeClickFixAccount` (see the module docstring)."""
    environment = app_settings.ENVIRONMENT
    if (tokens.environment, tokens.host) != (environment, app_settings.base_url):
        raise LinkRefused(E_ENVIRONMENT, "tokens from another environment")
    user_scf_id = int(profile["id"])
    now = timezone.now()
    with transaction.atomic():
        # One locking read (in pk order) of the rows that can stand in the way: this SeeClickFix
        # user's link and this user's link in the environment (at most one each, by the unique
        # constraints, which also catch what a parallel transaction inserts meanwhile).
        rows = list(
            SeeClickFixAccount.objects.select_for_update()
            .filter(Q(user_scf_id=user_scf_id) | Q(user_id=user.pk), environment=environment)
            .order_by("pk")
        )
        existing = next((row for row in rows if row.user_scf_id == user_scf_id), None)
        previous = next((row for row in rows if row.user_scf_id != user_scf_id), None)
        if existing is not None and existing.user_id != user.pk:
            if existing.status != AccountStatus.REVOKED:
                raise LinkRefused(E_LINKED_ELSEWHERE, "linked to another user")
            existing.delete()  # a disconnected remnant: the SeeClickFix account is free again
            existing = None
        if previous is not None:  # this user's link to another SeeClickFix user
            if previous.status != AccountStatus.REVOKED:
                raise LinkRefused(E_OTHER_ACCOUNT, "user has another SeeClickFix account linked")
            previous.delete()
        brought = {token for token in (tokens.access_token, tokens.refresh_token) if token}
        if not settle_for_relink(environment, user_scf_id, brought):
            # A reconnect under reuse_access_token got back a token this library revoked a
            # moment ago: storing it would leave a link that fails on its first request.
            raise LinkRefused(E_TOKEN, "SeeClickFix handed back a token revoked meanwhile")
        if existing is None:
            try:
                with transaction.atomic():
                    account = SeeClickFixAccount.objects.create(
                        user=user,
                        social_account=social_account,
                        environment=environment,
                        issuer=tokens.host,
                        user_scf_id=user_scf_id,
                        access_token=tokens.access_token,
                        refresh_token=tokens.refresh_token,
                        refresh_token_issued_at=now if tokens.refresh_token else None,
                        token_type=tokens.token_type,
                        expires_at=tokens.expires_at,
                        token_issued_at=now,
                        scope=tokens.scope,
                        status=AccountStatus.ACTIVE,
                        status_changed_at=now,
                        profile=profile,
                        profile_synced_at=now,
                        token_version=1,
                    )
            except IntegrityError as err:
                # Someone linked the same SeeClickFix account (or this user) in parallel.
                raise LinkRefused(E_LINKED_ELSEWHERE, "linked in parallel") from err
            created = True
        else:
            account = existing
            _owe_replaced(account, brought)
            values: dict[str, Any] = {
                "issuer": tokens.host,
                "previous_refresh_token": None,
                "last_sync_error": "",
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "refresh_token_issued_at": now if tokens.refresh_token else None,
                "token_type": tokens.token_type,
                "expires_at": tokens.expires_at,
                "token_issued_at": now,
                "scope": tokens.scope,
                "token_version": F("token_version") + 1,
                "profile": profile,
                "profile_synced_at": now,
                "updated_at": now,
            }
            if social_account is not None:
                values["social_account"] = social_account
            if account.status != AccountStatus.ACTIVE:
                values["status"] = AccountStatus.ACTIVE
                values["status_changed_at"] = now
            SeeClickFixAccount.objects.filter(
                pk=account.pk, token_version=account.token_version
            ).update(**values)
            account.refresh_from_db()
            created = False
        account.user = user  # the row is read (or written) and locked above: no second read
        pk = account.pk

        def announce() -> None:
            account_linked.send(
                sender=SeeClickFixAccount,
                account=account,
                user=user,
                created=created,
                request=request,
            )

        transaction.on_commit(announce)
        queue_sync(pk)
    logger.info(
        "SeeClickFix account %s %s for user %s", pk, "linked" if created else "relinked", user.pk
    )
    return account


def _owe_replaced(account: SeeClickFixAccount, brought: set[str]) -> None:
    """A reconnect replaces the link's tokens: owe SeeClickFix the revocation of the previous
    grant, unless SeeClickFix handed the same tokens back (``reuse_access_token``)."""
    try:
        access, refresh = account.access_token, account.refresh_token
        previous = account.previous_refresh_token
    except TokenDecryptionError:
        return  # unreadable: nothing can be sent; the new tokens replace them all the same
    for pair in ((access, refresh), (None, previous)):
        queue_revocation(
            account,
            access_token=pair[0] if pair[0] not in brought else None,
            refresh_token=pair[1] if pair[1] not in brought else None,
            reason=RevocationReason.RELINK,
        )


def link_from_sociallogin(request: HttpRequest | None, sociallogin: SocialLogin) -> None:
    """Link from allauth's ``SocialLogin`` (its token holds the sealed bundle)."""
    if sociallogin.account.provider != PROVIDER_ID or sociallogin.token is None:
        return
    if getattr(sociallogin, LINKED_ATTRIBUTE, False):
        return
    user = sociallogin.user
    if user is None or user.pk is None or sociallogin.account.pk is None:
        return
    tokens = unseal_tokens(sociallogin.token.token)
    profile = sociallogin.account.extra_data
    if not isinstance(profile, dict) or profile.get("id") is None:
        return
    link_account(
        user=user,
        social_account=sociallogin.account,
        tokens=tokens,
        profile=dict(profile),
        request=request,
    )


@receiver(social_account_added, dispatch_uid="seeclickfix_link_added")
def _on_social_account_added(
    sender: Any, request: HttpRequest, sociallogin: SocialLogin, **kwargs: Any
) -> None:
    link_from_sociallogin(request, sociallogin)


@receiver(social_account_updated, dispatch_uid="seeclickfix_link_updated")
def _on_social_account_updated(
    sender: Any, request: HttpRequest | None, sociallogin: SocialLogin, **kwargs: Any
) -> None:
    current = getattr(request, "user", None)
    if (
        sociallogin.state.get("process") == "connect"
        and current is not None
        and current.is_authenticated
        and sociallogin.user is not None
        and current.pk != sociallogin.user.pk
    ):
        return  # allauth refuses this connect ("connected to another user") right after
    link_from_sociallogin(request, sociallogin)


@receiver(user_signed_up, dispatch_uid="seeclickfix_link_signed_up")
def _on_user_signed_up(
    sender: Any, request: HttpRequest, user: Any, sociallogin: SocialLogin | None = None, **kw: Any
) -> None:
    if sociallogin is None:
        return
    try:
        link_from_sociallogin(request, sociallogin)
    except LinkRefused as refused:
        if getattr(request, IN_FLOW_ATTRIBUTE, False):
            raise  # the OAuth view rolls everything back and explains
        # allauth's signup form (a pending signup) finishing after someone else linked the
        # same SeeClickFix account meanwhile: refuse with a 403 rather than a server error.
        raise PermissionDenied(str(refused)) from refused


@receiver(pre_social_login, dispatch_uid="seeclickfix_no_email_match")
def _on_pre_social_login(
    sender: Any, request: HttpRequest, sociallogin: SocialLogin, **kwargs: Any
) -> None:
    # The provider never marks SeeClickFix addresses verified, so allauth cannot match by email;
    # this stops it even if a host's adapter overrides that.
    if sociallogin.account.provider == PROVIDER_ID and getattr(
        sociallogin, "_did_authenticate_by_email", None
    ):
        raise LinkRefused(E_BY_EMAIL, "matched by email", status=403)


def queue_sync(account_pk: int) -> None:
    """Queue the first sync (the ``sync_account`` task) once the current transaction commits.

    Robust (a broker that is down is logged, not raised into the OAuth callback): a link
    stands without its first sync, which the next ``sync_all_accounts`` pass queues (the account
    has never been synced)."""

    def queue_first_sync() -> None:
        sync_account.delay(account_pk)

    transaction.on_commit(queue_first_sync, robust=True)


__all__ = [
    "IN_FLOW_ATTRIBUTE",
    "LINKED_ATTRIBUTE",
    "check_can_link",
    "link_account",
    "link_from_sociallogin",
    "queue_sync",
]
