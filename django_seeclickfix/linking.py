"""From a completed allauth login, signup or connect to a :class:`SeeClickFixAccount`; unlinking.

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

The tokens arrive as a *sealed* bundle (Fernet under ``TOKEN_KEYS``) in allauth's
``SocialToken``, so allauth, its session-stored pending signups and ``SOCIALACCOUNT_STORE_TOKENS``
never see them in clear.

:func:`unlink_account` deletes the tokens at once, removes the allauth social account (unless it
is the user's only way to sign in) and revokes the tokens at SeeClickFix in the background: the
Celery task ``django_seeclickfix.tasks.revoke_tokens`` is queued after commit with the sealed
tokens (it wraps :func:`revoke_sealed_tokens`, which raises ``TransientError`` / ``RateLimited``
so the task's retry policy applies).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from allauth.account.signals import user_signed_up
from allauth.socialaccount.models import SocialAccount
from allauth.socialaccount.signals import (
    pre_social_login,
    social_account_added,
    social_account_removed,
    social_account_updated,
)
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .allauth_provider.provider import SeeClickFixProvider, social_uid
from .conf import app_settings
from .exceptions import SeeClickFixError, TokenDecryptionError
from .fields import decrypt, encrypt
from .models import AccountStatus, SeeClickFixAccount
from .signals import account_linked, account_unlinked
from .tasks import revoke_tokens, sync_account

if TYPE_CHECKING:
    from allauth.socialaccount.models import SocialLogin
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from .client.oauth import OAuthClient, TokenResponse

logger = logging.getLogger(__name__)

PROVIDER_ID = SeeClickFixProvider.id

# Why a link was refused: the ``error`` a headless front end receives.
E_LINKED_ELSEWHERE = "seeclickfix_linked_elsewhere"
E_OTHER_ACCOUNT = "seeclickfix_other_account_linked"
E_BY_EMAIL = "seeclickfix_email_match"
E_ENVIRONMENT = "seeclickfix_environment"

# Set on the request while the OAuth views run allauth's pipeline (inside their transaction).
IN_FLOW_ATTRIBUTE = "_seeclickfix_in_flow"


class LinkRefused(SeeClickFixError):
    """Linking stopped on purpose, nothing changed. ``code`` is one of the ``E_*`` constants."""

    def __init__(self, code: str, message: str = "", *, status: int = 409) -> None:
        super().__init__(message or code)
        self.code = code
        self.status = status


# --- sealed token bundles ----------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class SealedTokens:
    """The opened content of a sealed bundle."""

    access_token: str
    refresh_token: str | None
    token_type: str
    expires_at: datetime | None
    scope: str
    environment: str
    host: str

    def __repr__(self) -> str:
        return f"SealedTokens(environment={self.environment!r}, expires_at={self.expires_at!r})"


def _seal(
    *,
    environment: str,
    access: str | None,
    refresh: str | None,
    token_type: str = "Bearer",  # noqa: S107
    expires_at: datetime | None = None,
    scope: str = "",
) -> str:
    """The sealed bundle (format version 1) that :func:`unseal_tokens` opens."""
    payload = {
        "v": 1,
        "env": environment,
        "host": app_settings.base_url,
        "a": access,
        "r": refresh,
        "t": token_type,
        "e": expires_at.isoformat() if expires_at else None,
        "s": scope,
    }
    return str(encrypt(json.dumps(payload)))


def seal_tokens(token: TokenResponse, *, received_at: datetime) -> str:
    """Encrypt what linking needs from a token response, bound to the current environment."""
    return _seal(
        environment=app_settings.ENVIRONMENT,
        access=token.access_token,
        refresh=token.refresh_token,
        token_type=token.token_type or "Bearer",
        expires_at=token.expires_at(received_at),
        scope=token.scope or "",
    )


def unseal_tokens(sealed: str) -> SealedTokens:
    data = json.loads(decrypt(sealed, what="A sealed SeeClickFix token bundle"))
    if not isinstance(data, dict) or data.get("v") != 1 or not data.get("a"):
        raise TokenDecryptionError("A sealed SeeClickFix token bundle has an unknown format.")
    expires = parse_datetime(data["e"]) if data.get("e") else None
    return SealedTokens(
        access_token=str(data["a"]),
        refresh_token=str(data["r"]) if data.get("r") else None,
        token_type=str(data.get("t") or "Bearer")[:40],
        expires_at=expires,
        scope=str(data.get("s") or "")[:255],
        environment=str(data.get("env")),
        host=str(data.get("host")),
    )


# --- linking -----------------------------------------------------------------------------------


def check_can_link(
    user: AbstractBaseUser | AnonymousUser, environment: str, scf_user_id: int
) -> None:
    """Raise :class:`LinkRefused` if ``user`` may not link this SeeClickFix account.

    Read-only: the OAuth views call it before allauth touches anything; :func:`link_account`
    repeats the checks under row locks. Two queries: allauth's social accounts, then ours (the
    live accounts of this SeeClickFix user or of ``user`` in ``environment``, in one).
    """
    user_pk = user.pk
    if user_pk is None:
        raise LinkRefused(E_LINKED_ELSEWHERE, "no user to link to", status=403)
    uid = social_uid(scf_user_id, environment)
    others_social = SocialAccount.objects.filter(provider=PROVIDER_ID, uid=uid).exclude(
        user_id=user_pk
    )
    if others_social.exists():
        raise LinkRefused(E_LINKED_ELSEWHERE, "linked to another user")
    # Live links of this SeeClickFix user (to another user) or of this user (to another
    # SeeClickFix user): at most one of each, by the unique constraints.
    conflicts = list(
        SeeClickFixAccount.objects.exclude(status=AccountStatus.REVOKED)
        .filter(Q(scf_user_id=scf_user_id) | Q(user_id=user_pk), environment=environment)
        .exclude(user_id=user_pk, scf_user_id=scf_user_id)
        .values_list("scf_user_id", flat=True)[:2]
    )
    if scf_user_id in conflicts:
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
    scf_user_id = int(profile["id"])
    now = timezone.now()
    with transaction.atomic():
        # One locking read (in pk order) of the rows that can stand in the way: this SeeClickFix
        # user's link and this user's link in the environment (at most one each, by the unique
        # constraints, which also catch what a parallel transaction inserts meanwhile).
        rows = list(
            SeeClickFixAccount.objects.select_for_update()
            .filter(Q(scf_user_id=scf_user_id) | Q(user_id=user.pk), environment=environment)
            .order_by("pk")
        )
        existing = next((row for row in rows if row.scf_user_id == scf_user_id), None)
        previous = next((row for row in rows if row.scf_user_id != scf_user_id), None)
        if existing is not None and existing.user_id != user.pk:
            if existing.status != AccountStatus.REVOKED:
                raise LinkRefused(E_LINKED_ELSEWHERE, "linked to another user")
            existing.delete()  # a disconnected remnant: the SeeClickFix account is free again
            existing = None
        if previous is not None:  # this user's link to another SeeClickFix user
            if previous.status != AccountStatus.REVOKED:
                raise LinkRefused(E_OTHER_ACCOUNT, "user has another SeeClickFix account linked")
            previous.delete()
        if existing is None:
            try:
                with transaction.atomic():
                    account = SeeClickFixAccount.objects.create(
                        user=user,
                        social_account=social_account,
                        environment=environment,
                        scf_user_id=scf_user_id,
                        access_token=tokens.access_token,
                        refresh_token=tokens.refresh_token,
                        token_type=tokens.token_type,
                        expires_at=tokens.expires_at,
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
            values: dict[str, Any] = {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "token_type": tokens.token_type,
                "expires_at": tokens.expires_at,
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


def link_from_sociallogin(request: HttpRequest | None, sociallogin: SocialLogin) -> None:
    """Link from allauth's ``SocialLogin`` (its token holds the sealed bundle)."""
    if sociallogin.account.provider != PROVIDER_ID or sociallogin.token is None:
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


# --- unlinking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnlinkResult:
    unlinked: bool
    social_account_removed: bool
    revocation_scheduled: bool


def _holds_tokens(account: SeeClickFixAccount) -> bool:
    """A token is stored (read from the columns: nothing is decrypted)."""
    return bool(account.__dict__.get("access_token") or account.__dict__.get("refresh_token"))


def _can_remove_social_account(request: HttpRequest | None, social: SocialAccount) -> bool:
    """allauth's rule: never remove the last way a user can sign in."""
    from allauth.socialaccount.internal.flows.connect import validate_disconnect
    from django.core.exceptions import ValidationError

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
        had_tokens = _holds_tokens(locked)
        if locked.status == AccountStatus.REVOKED and not had_tokens:
            return UnlinkResult(False, False, False)
        sealed = seal_revocation(locked) if had_tokens else None
        now = timezone.now()
        SeeClickFixAccount.objects.filter(pk=locked.pk).update(
            access_token=None,
            refresh_token=None,
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
        if sealed is not None:
            schedule_revocation(sealed)
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
    return UnlinkResult(True, removed, sealed is not None)


@receiver(pre_delete, sender=SocialAccount, dispatch_uid="seeclickfix_social_account_deleted")
def _on_social_account_deleted(sender: Any, instance: SocialAccount, **kwargs: Any) -> None:
    # Covers allauth's own "remove" button, the admin and bulk deletes alike.
    if instance.provider != PROVIDER_ID:
        return
    for account in SeeClickFixAccount.objects.filter(social_account_id=instance.pk):
        unlink_account(account, remove_social_account=False)


@receiver(pre_delete, sender=SeeClickFixAccount, dispatch_uid="seeclickfix_account_deleted")
def _on_account_deleted(sender: Any, instance: SeeClickFixAccount, **kwargs: Any) -> None:
    # A deleted user (or row) must not leave a live grant behind at SeeClickFix.
    if _holds_tokens(instance):
        sealed = seal_revocation(instance)
        if sealed is not None:
            schedule_revocation(sealed)


# --- revocation --------------------------------------------------------------------------------


def seal_revocation(account: SeeClickFixAccount) -> str | None:
    """The account's tokens, sealed for :func:`revoke_sealed_tokens` (None if unreadable)."""
    try:
        access, refresh = account.access_token, account.refresh_token
    except TokenDecryptionError:
        logger.warning("SeeClickFix account %s: tokens unreadable, not revoked", account.pk)
        return None
    return _seal(environment=account.environment, access=access, refresh=refresh)


def revoke_sealed_tokens(sealed: str, *, client: OAuthClient | None = None) -> None:
    """Revoke the tokens in ``sealed`` at SeeClickFix (refresh token first, then access token).

    A 200 for a token SeeClickFix no longer knows counts as done. Raises ``TransientError`` /
    ``RateLimited`` when worth retrying, another ``SeeClickFixError`` when not.
    """
    data = json.loads(decrypt(sealed, what="A sealed SeeClickFix revocation"))
    if client is None:
        from .tokens import oauth_client

        client = oauth_client()
    if data.get("r"):
        client.revoke(str(data["r"]), token_type_hint="refresh_token")  # noqa: S106
    if data.get("a"):
        client.revoke(str(data["a"]), token_type_hint="access_token")  # noqa: S106


def schedule_revocation(sealed: str) -> None:
    """Queue the ``revoke_tokens`` task with ``sealed`` once the current transaction commits.

    Robust: a broker that is down is logged, not raised into the request that disconnected,
    whose tokens are already deleted (only SeeClickFix's copy then outlives the link)."""

    def queue_revocation() -> None:
        revoke_tokens.delay(sealed)

    transaction.on_commit(queue_revocation, robust=True)


def queue_sync(account_pk: int) -> None:
    """Queue the first sync (the ``sync_account`` task) once the current transaction commits.

    Robust like :func:`schedule_revocation`: a link stands without its first sync, which the
    next ``sync_all_accounts`` pass queues (the account has never been synced)."""

    def queue_first_sync() -> None:
        sync_account.delay(account_pk)

    transaction.on_commit(queue_first_sync, robust=True)


__all__ = [
    "LinkRefused",
    "SealedTokens",
    "UnlinkResult",
    "check_can_link",
    "link_account",
    "revoke_sealed_tokens",
    "schedule_revocation",
    "seal_tokens",
    "unlink_account",
    "unseal_tokens",
]
