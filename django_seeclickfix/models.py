"""Linked SeeClickFix accounts and the issues their users reported.

Tokens live only in :class:`SeeClickFixAccount` (allauth's ``SocialToken`` stays unused) and are
written only through :mod:`django_seeclickfix.tokens` and :mod:`django_seeclickfix.linking`,
which compare ``token_version`` so a writer holding an old copy of the row can never put an older
token back. ``SeeClickFixAccount.save()`` leaves the token columns alone for the same reason.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .exceptions import MAX_ERROR_LENGTH, AccountUnavailable, ReauthRequired
from .fields import EncryptedTextField

# Columns that only the version-checked token writers may change.
TOKEN_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "previous_refresh_token",
        "refresh_token_issued_at",
        "token_type",
        "expires_at",
        "scope",
    }
)
TOKEN_WRITE_FIELDS = TOKEN_FIELDS | {"token_version"}


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    REAUTH_REQUIRED = "reauth_required", _("Needs reconnecting")
    REVOKED = "revoked", _("Disconnected")


class SeeClickFixAccountQuerySet(models.QuerySet["SeeClickFixAccount"]):
    def usable(self) -> SeeClickFixAccountQuerySet:
        """Accounts background jobs may act as: the rule of
        :meth:`SeeClickFixAccount.check_usable`, in SQL."""
        return self.for_environment().filter(
            status=AccountStatus.ACTIVE, user__is_active=True, access_token__isnull=False
        )

    def for_environment(self, environment: str | None = None) -> SeeClickFixAccountQuerySet:
        return self.filter(environment=environment or app_settings.ENVIRONMENT)

    def for_user(self, user: object) -> SeeClickFixAccount | None:
        """The user's account in the configured environment (its ``user`` already loaded), or
        ``None``: an anonymous user, or one who never connected SeeClickFix. The one lookup of
        "the user's account" (tokens, views, actions and the template tags use it)."""
        pk = getattr(user, "pk", None)
        if pk is None or not getattr(user, "is_authenticated", False):
            return None
        return self.for_environment().select_related("user").filter(user_id=pk).first()


class SeeClickFixAccount(models.Model):
    """One linked SeeClickFix account of one site user in one SeeClickFix environment."""

    Status = AccountStatus

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="seeclickfix_accounts",
        verbose_name=_("user"),
    )
    social_account = models.OneToOneField(
        "socialaccount.SocialAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="seeclickfix_account",
        verbose_name=_("social account"),
    )
    environment = models.SlugField(_("environment"), max_length=40)
    issuer = models.CharField(
        _("token issuer"),
        max_length=200,
        blank=True,
        default="",
        help_text=_(
            "The SeeClickFix host that issued the tokens (BASE_URL or the environment's host "
            "at link time). Tokens are only ever sent there."
        ),
    )
    user_scf_id = models.BigIntegerField(_("SeeClickFix user id"))

    access_token = EncryptedTextField(_("access token"), null=True, blank=True)
    refresh_token = EncryptedTextField(_("refresh token"), null=True, blank=True)
    previous_refresh_token = EncryptedTextField(
        _("previous refresh token"),
        null=True,
        blank=True,
        help_text=_(
            "The refresh token a refresh replaced, kept until the new access token is first "
            "used (then SeeClickFix, a Doorkeeper server, revokes it itself); revoked with the "
            "link if that never happens."
        ),
    )
    token_type = models.CharField(_("token type"), max_length=40, default="Bearer")
    expires_at = models.DateTimeField(
        _("token expires at"), null=True, blank=True, help_text=_("Empty: the token never expires.")
    )
    token_issued_at = models.DateTimeField(
        _("access token issued at"),
        null=True,
        blank=True,
        help_text=_(
            "When the stored access token arrived: with its expiry, the lifetime SeeClickFix "
            "gave it (a refresh margin longer than that is clamped to half of it)."
        ),
    )
    refresh_token_issued_at = models.DateTimeField(
        _("refresh token issued at"),
        null=True,
        blank=True,
        help_text=_("When the stored refresh token was issued (for REFRESH_TOKEN_MAX_AGE)."),
    )
    scope = models.CharField(_("scope"), max_length=255, blank=True, default="")
    token_version = models.PositiveBigIntegerField(
        _("token version"),
        default=0,
        editable=False,
        help_text=_("Bumped on every token write; a writer holding an older version loses."),
    )

    status = models.CharField(
        _("status"),
        max_length=20,
        choices=AccountStatus.choices,
        default=AccountStatus.ACTIVE,
        db_index=True,
    )
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)

    profile = models.JSONField(_("profile"), default=dict, blank=True)
    profile_synced_at = models.DateTimeField(_("profile synced at"), null=True, blank=True)
    sync_cursor = models.DateTimeField(
        _("sync cursor"),
        null=True,
        blank=True,
        help_text=_("Greatest SeeClickFix updated_at seen; empty before the first sync."),
    )
    last_synced_at = models.DateTimeField(_("last synced at"), null=True, blank=True, db_index=True)
    last_sync_error = models.CharField(
        _("last sync error"), max_length=MAX_ERROR_LENGTH, blank=True, default=""
    )
    # Owned by the planner (scheduling.py): when the account is next due for a sync. A pass
    # that queues it pushes it SYNC_QUEUE_TIMEOUT ahead (durable: a pass never queues an
    # account twice, and one whose message a broker lost is due again after the timeout); the
    # sync sets it one interval after it ends (half of one when it brought changes).
    next_sync_at = models.DateTimeField(_("next sync due"), default=timezone.now)
    sync_queued_at = models.DateTimeField(
        _("sync queued at"), null=True, blank=True, help_text=_("Set while a sync is queued.")
    )
    last_sync_changes = models.PositiveIntegerField(_("issues changed in the last sync"), default=0)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects: ClassVar[SeeClickFixAccountQuerySet] = SeeClickFixAccountQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("SeeClickFix account")
        verbose_name_plural = _("SeeClickFix accounts")
        indexes = [
            # The planner's claim: WHERE environment AND status ORDER BY next_sync_at, id LIMIT n
            # (an index scan that stops after n rows, whatever the number of accounts).
            models.Index(
                fields=["environment", "status", "next_sync_at", "id"], name="seeclickfix_acct_due"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "user_scf_id"], name="seeclickfix_account_unique_scf_user"
            ),
            models.UniqueConstraint(
                fields=["user", "environment"], name="seeclickfix_account_unique_user_environment"
            ),
        ]

    def __str__(self) -> str:
        name = self.display_name
        return f"{name} (SeeClickFix {self.environment} #{self.user_scf_id})"

    def __repr__(self) -> str:
        return (
            f"<SeeClickFixAccount pk={self.pk} user_id={self.user_id} "
            f"environment={self.environment!r} user_scf_id={self.user_scf_id} "
            f"status={self.status!r}>"
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, but never the token columns of an existing row (see the module docstring)."""
        if args:
            raise TypeError("SeeClickFixAccount.save() takes keyword arguments only.")
        update_fields = kwargs.get("update_fields")
        if not self._state.adding and not kwargs.get("force_insert"):
            if update_fields is None:
                kwargs["update_fields"] = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key and field.name not in TOKEN_WRITE_FIELDS
                ]
            elif TOKEN_WRITE_FIELDS & set(update_fields):
                raise ValueError(
                    "Token columns are written through django_seeclickfix.tokens, which checks "
                    "token_version; save() does not write them."
                )
        super().save(**kwargs)

    @property
    def display_name(self) -> str:
        name = self.profile.get("name") if isinstance(self.profile, dict) else None
        return str(name) if name else f"#{self.user_scf_id}"

    # Presence read from the stored column: nothing is decrypted.
    @property
    def has_access_token(self) -> bool:
        return self.__dict__.get("access_token") is not None

    @property
    def has_refresh_token(self) -> bool:
        return self.__dict__.get("refresh_token") is not None

    @property
    def holds_tokens(self) -> bool:
        """Some token is stored (a disconnect or a deletion must revoke it)."""
        return (
            self.has_access_token
            or self.has_refresh_token
            or self.__dict__.get("previous_refresh_token") is not None
        )

    def check_usable(self) -> None:
        """Raise why background jobs may not act as this account now; the one rule of "usable"
        (:meth:`SeeClickFixAccountQuerySet.usable` is its SQL twin).

        :class:`~django_seeclickfix.exceptions.AccountUnavailable` when the link was
        disconnected, its site user is deactivated or it belongs to another environment;
        :class:`~django_seeclickfix.exceptions.ReauthRequired` when it needs its user to connect
        again (or holds no access token). Nothing is sent anywhere and nothing is changed.
        """
        if self.status == AccountStatus.REVOKED:
            raise AccountUnavailable("This SeeClickFix account was disconnected.")
        if self.status == AccountStatus.REAUTH_REQUIRED:
            raise ReauthRequired(
                "This SeeClickFix link needs its user to connect SeeClickFix again."
            )
        if not self.user.is_active:
            raise AccountUnavailable("The site user of this SeeClickFix account is deactivated.")
        if self.environment != app_settings.ENVIRONMENT:
            raise AccountUnavailable(
                f"This SeeClickFix account was linked on environment {self.environment!r}; "
                f"this site is configured for {app_settings.ENVIRONMENT!r}."
            )
        if self.issuer and self.issuer != app_settings.base_url:
            raise AccountUnavailable(
                f"This SeeClickFix account's tokens were issued by {self.issuer}; this site is "
                f"configured for {app_settings.base_url}. Its tokens are never sent elsewhere."
            )
        if not self.has_access_token:
            raise ReauthRequired("This SeeClickFix link holds no access token.")

    @property
    def is_usable(self) -> bool:
        try:
            self.check_usable()
        except ReauthRequired:  # AccountUnavailable included
            return False
        return True


class SeeClickFixIssue(models.Model):
    """An issue reported on SeeClickFix by a linked user, as the last sync saw it."""

    environment = models.SlugField(_("environment"), max_length=40)
    scf_id = models.BigIntegerField(_("SeeClickFix id"))
    account = models.ForeignKey(
        SeeClickFixAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="issues",
        verbose_name=_("account"),
    )
    reporter_scf_id = models.BigIntegerField(_("reporter's SeeClickFix id"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=40, blank=True, default="")
    summary = models.CharField(_("summary"), max_length=500, blank=True, default="")
    description = models.TextField(_("description"), blank=True, default="")
    address = models.CharField(_("address"), max_length=500, blank=True, default="")
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    html_url = models.URLField(_("SeeClickFix page"), max_length=500, blank=True, default="")
    rating = models.IntegerField(_("rating"), null=True, blank=True)
    scf_created_at = models.DateTimeField(_("created on SeeClickFix"), null=True, blank=True)
    scf_updated_at = models.DateTimeField(_("updated on SeeClickFix"), null=True, blank=True)
    raw = models.JSONField(_("raw JSON"), default=dict, blank=True)
    first_synced_at = models.DateTimeField(_("first synced at"), default=timezone.now)
    last_synced_at = models.DateTimeField(_("last synced at"), default=timezone.now)

    class Meta:
        verbose_name = _("SeeClickFix issue")
        verbose_name_plural = _("SeeClickFix issues")
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "scf_id"], name="seeclickfix_issue_unique_scf_id"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "scf_updated_at"], name="seeclickfix_issue_acct_upd"),
        ]

    def __str__(self) -> str:
        return f"#{self.scf_id} {self.summary}".strip()

    def __repr__(self) -> str:
        return (
            f"<SeeClickFixIssue pk={self.pk} environment={self.environment!r} scf_id={self.scf_id}>"
        )


class ActionKind(models.TextChoices):
    COMMENT = "comment", _("Comment")
    ISSUE = "issue", _("New issue")
    CLOSE = "close", _("Close an issue")
    REOPEN = "reopen", _("Reopen an issue")
    ACKNOWLEDGE = "acknowledge", _("Acknowledge an issue")
    FOLLOW = "follow", _("Follow an issue")
    UNFOLLOW = "unfollow", _("Stop following an issue")
    VOTE = "vote", _("Vote for an issue")
    UNVOTE = "unvote", _("Withdraw a vote")


class ActionStatus(models.TextChoices):
    PENDING = "pending", _("Queued")
    IN_FLIGHT = "in_flight", _("Sending")
    SUCCEEDED = "succeeded", _("Posted")
    MODERATED = "moderated", _("Held for moderation")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class SeeClickFixAction(models.Model):
    """Something the site owes SeeClickFix as a user (a comment, an issue, a follow...), posted
    from a task at most once (see ``actions.py`` and ``posting.py``).

    An outbox row: written in the caller's transaction, the broker message only wakes a worker,
    and the sweeper (``outbox.py``) sends a message again for a row whose message was lost.
    ``request_id`` is the caller's idempotency key: queueing the same key twice queues one post.
    The row is ``in_flight`` from just before the POST until its outcome is stored, so a task
    re-delivered after a crash knows it must look on SeeClickFix before posting again.
    """

    Kind = ActionKind
    Status = ActionStatus
    FINAL = frozenset(
        {
            ActionStatus.SUCCEEDED,
            ActionStatus.MODERATED,
            ActionStatus.FAILED,
            ActionStatus.CANCELLED,
        }
    )

    request_id = models.CharField(_("request id"), max_length=128, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=ActionKind.choices)
    account = models.ForeignKey(
        SeeClickFixAccount,
        on_delete=models.CASCADE,
        related_name="actions",
        verbose_name=_("account"),
    )
    issue_scf_id = models.BigIntegerField(_("SeeClickFix issue id"), null=True, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ActionStatus.choices,
        default=ActionStatus.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    task_id = models.CharField(_("task id"), max_length=255, blank=True, default="")
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    message_due_at = models.DateTimeField(
        _("message due at"),
        null=True,
        blank=True,
        help_text=_(
            "When the latest broker message for this row was due to reach a worker (its send "
            "time, or its retry's countdown); empty: no message was sent. The sweeper sends "
            "another one when this is OUTBOX_REQUEUE_AFTER in the past."
        ),
    )
    sent_at = models.DateTimeField(_("last sent at"), null=True, blank=True)
    result_scf_id = models.BigIntegerField(_("created SeeClickFix id"), null=True, blank=True)
    result = models.JSONField(_("SeeClickFix response"), default=dict, blank=True)
    error = models.CharField(_("error"), max_length=MAX_ERROR_LENGTH, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("SeeClickFix action")
        verbose_name_plural = _("SeeClickFix actions")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.request_id} ({self.get_status_display()})"

    def __repr__(self) -> str:
        return (
            f"<SeeClickFixAction pk={self.pk} kind={self.kind!r} request_id={self.request_id!r} "
            f"status={self.status!r}>"
        )

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class RevocationStatus(models.TextChoices):
    PENDING = "pending", _("Queued")
    REVOKED = "revoked", _("Revoked")
    SKIPPED = "skipped", _("Nothing to revoke")
    FAILED = "failed", _("Failed")


class RevocationReason(models.TextChoices):
    DISCONNECT = "disconnect", _("Disconnected")
    RELINK = "relink", _("Connected again")
    REFRESH = "refresh", _("Replaced by a refresh")
    DELETED = "deleted", _("Account deleted")


class SeeClickFixRevocation(models.Model):
    """Tokens the site owes SeeClickFix a revocation of (RFC 7009), until it is done.

    An outbox row like :class:`SeeClickFixAction` (see ``revocation.py``): the tokens are kept
    here, encrypted, only until SeeClickFix confirmed the revocation (then they are deleted); the
    broker message carries the row's id only. ``issuer`` is the host that issued the tokens: they
    are never sent anywhere else. A token that a live link holds again (a reconnect that got the
    same token back) is never revoked.
    """

    Status = RevocationStatus
    Reason = RevocationReason
    FINAL = frozenset({RevocationStatus.REVOKED, RevocationStatus.SKIPPED, RevocationStatus.FAILED})

    account = models.ForeignKey(
        SeeClickFixAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="revocations",
        verbose_name=_("account"),
    )
    environment = models.SlugField(_("environment"), max_length=40)
    user_scf_id = models.BigIntegerField(_("SeeClickFix user id"))
    issuer = models.CharField(_("token issuer"), max_length=200)
    access_token = EncryptedTextField(_("access token"), null=True, blank=True)
    refresh_token = EncryptedTextField(_("refresh token"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=RevocationReason.choices)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=RevocationStatus.choices,
        default=RevocationStatus.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    message_due_at = models.DateTimeField(_("message due at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=MAX_ERROR_LENGTH, blank=True, default="")
    revoked_fingerprints = models.CharField(
        _("revoked fingerprints"),
        max_length=200,
        blank=True,
        default="",
        editable=False,
        help_text=_(
            "SHA-256 of each token revoked (not the tokens): a reconnect that SeeClickFix "
            "answered with one of them is refused instead of storing a dead token."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("SeeClickFix revocation")
        verbose_name_plural = _("SeeClickFix revocations")
        indexes = [
            models.Index(
                fields=["environment", "user_scf_id", "status"], name="seeclickfix_revoc_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} #{self.user_scf_id} ({self.get_status_display()})"

    def __repr__(self) -> str:
        return (
            f"<SeeClickFixRevocation pk={self.pk} environment={self.environment!r} "
            f"user_scf_id={self.user_scf_id} status={self.status!r}>"
        )

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class SeeClickFixAreaFeed(models.Model):
    """Where the area change feed (``feed.py``) stands in one area of ``SEECLICKFIX["AREAS"]``.

    Owned by ``feed.py``: ``cursor`` moves only forward, in the transaction that commits a
    page's issues, so a pass stopped anywhere resumes after the last committed page. Rows of
    areas removed from the settings are left alone; deleting a row restarts its area.
    """

    environment = models.SlugField(_("environment"), max_length=40)
    name = models.CharField(_("area"), max_length=100)
    definition = models.CharField(
        _("filters"),
        max_length=255,
        help_text=_("The area's filters when the cursor started; other filters restart it."),
    )
    cursor = models.DateTimeField(
        _("cursor"),
        help_text=_("Greatest SeeClickFix updated_at committed; the next pass reads from here."),
    )
    last_pass_at = models.DateTimeField(
        _("last complete pass"),
        null=True,
        blank=True,
        help_text=_("Start of the last pass that read the area's changes to the end."),
    )
    last_error = models.CharField(
        _("last error"), max_length=MAX_ERROR_LENGTH, blank=True, default=""
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("SeeClickFix area feed")
        verbose_name_plural = _("SeeClickFix area feeds")
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "name"], name="seeclickfix_areafeed_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.environment})"

    def __repr__(self) -> str:
        return (
            f"<SeeClickFixAreaFeed pk={self.pk} environment={self.environment!r} "
            f"name={self.name!r} cursor={self.cursor!r}>"
        )


__all__ = [
    "TOKEN_FIELDS",
    "AccountStatus",
    "ActionKind",
    "ActionStatus",
    "RevocationReason",
    "RevocationStatus",
    "SeeClickFixAccount",
    "SeeClickFixAction",
    "SeeClickFixAreaFeed",
    "SeeClickFixIssue",
    "SeeClickFixRevocation",
]
