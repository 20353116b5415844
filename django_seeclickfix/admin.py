"""Admin for linked accounts and synced issues. Tokens are never shown, searched or edited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .exceptions import ReauthRequired, SeeClickFixError
from .models import (
    ActionStatus,
    SeeClickFixAccount,
    SeeClickFixAction,
    SeeClickFixAreaFeed,
    SeeClickFixIssue,
    SeeClickFixRevocation,
)
from .outbox import wake_on_commit
from .posting import cancel_action
from .tasks import sync_account
from .tokens import force_refresh, mark_reauth_required

HIDDEN_FIELDS = ("access_token", "refresh_token", "previous_refresh_token")

if TYPE_CHECKING:
    AccountAdminBase = admin.ModelAdmin[SeeClickFixAccount]
    IssueAdminBase = admin.ModelAdmin[SeeClickFixIssue]
    ActionAdminBase = admin.ModelAdmin[SeeClickFixAction]
    AreaFeedAdminBase = admin.ModelAdmin[SeeClickFixAreaFeed]
    RevocationAdminBase = admin.ModelAdmin[SeeClickFixRevocation]
else:  # ModelAdmin is generic only in the type stubs
    AccountAdminBase = IssueAdminBase = ActionAdminBase = AreaFeedAdminBase = admin.ModelAdmin
    RevocationAdminBase = admin.ModelAdmin


def _user_search_field() -> str:
    return f"user__{get_user_model().USERNAME_FIELD}"


@admin.register(SeeClickFixAccount)
class SeeClickFixAccountAdmin(AccountAdminBase):
    list_display = (
        "__str__",
        "user",
        "environment",
        "user_scf_id",
        "status",
        "expires_at",
        "last_synced_at",
    )
    list_filter = ("status", "environment")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    exclude = HIDDEN_FIELDS
    # Everything is read-only: the row is written by linking, refreshing and syncing, and the
    # scheduling columns (next_sync_at, sync_queued_at) are what keeps one sync queued per
    # account. Change it through the actions below.
    readonly_fields = (
        "user",
        "social_account",
        "environment",
        "issuer",
        "user_scf_id",
        "token_state",
        "token_type",
        "expires_at",
        "token_issued_at",
        "refresh_token_issued_at",
        "scope",
        "token_version",
        "status",
        "status_changed_at",
        "profile",
        "profile_synced_at",
        "sync_cursor",
        "last_synced_at",
        "last_sync_error",
        "last_sync_changes",
        "next_sync_at",
        "sync_queued_at",
        "created_at",
        "updated_at",
    )
    actions = ("refresh_tokens", "mark_reauth", "sync_now")

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return (_user_search_field(), "user__email", "=user_scf_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts are created by connecting SeeClickFix, never by hand

    @admin.display(description=_("tokens"))
    def token_state(self, obj: SeeClickFixAccount) -> str:
        # Presence only, from the stored column: nothing is decrypted for the admin.
        if not obj.has_access_token:
            return str(_("none stored"))
        return str(
            _("access token and refresh token stored")
            if obj.has_refresh_token
            else _("access token stored (no refresh token)")
        )

    @admin.action(description=_("Sync now"), permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[SeeClickFixAccount]) -> None:
        count = 0
        for pk in queryset.values_list("pk", flat=True):
            sync_account.delay(pk)
            count += 1
        self.message_user(
            request,
            ngettext("%d sync queued.", "%d syncs queued.", count) % count,
            messages.SUCCESS,
        )

    @admin.action(description=_("Refresh token now"), permissions=["change"])
    def refresh_tokens(self, request: HttpRequest, queryset: QuerySet[SeeClickFixAccount]) -> None:
        done = skipped = failed = 0
        for account in queryset.select_related("user"):
            if not account.has_refresh_token:
                skipped += 1
                continue
            try:
                force_refresh(account)
            except ReauthRequired as err:
                failed += 1
                self.message_user(request, f"{account}: {err}", messages.WARNING)
            except SeeClickFixError as err:
                failed += 1
                self.message_user(request, f"{account}: {type(err).__name__}", messages.ERROR)
            else:
                done += 1
        self.message_user(
            request,
            _("Refreshed: %(done)d. Without refresh token: %(skipped)d. Failed: %(failed)d.")
            % {"done": done, "skipped": skipped, "failed": failed},
            messages.INFO,
        )

    @admin.action(description=_("Mark as needing reconnection"), permissions=["change"])
    def mark_reauth(self, request: HttpRequest, queryset: QuerySet[SeeClickFixAccount]) -> None:
        reason = f"Marked by {request.user} in the admin."
        changed = sum(mark_reauth_required(account, reason) for account in queryset)
        self.message_user(
            request,
            ngettext("%d account marked.", "%d accounts marked.", changed) % changed,
            messages.SUCCESS,
        )


@admin.register(SeeClickFixIssue)
class SeeClickFixIssueAdmin(IssueAdminBase):
    list_display = ("scf_id", "summary", "status", "account", "scf_updated_at", "last_synced_at")
    list_filter = ("status", "environment")
    list_select_related = ("account",)
    search_fields = ("=scf_id", "summary", "address")
    ordering = ("-scf_updated_at",)
    # SeeClickFix's links carry their scheme; say so rather than rely on Django's changing default.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # synced from SeeClickFix; edits would be overwritten


@admin.register(SeeClickFixAction)
class SeeClickFixActionAdmin(ActionAdminBase):
    """Owed posts (comments, issues, follows...): what was asked, where it stands, what
    SeeClickFix answered. Unfinished ones are retried by the tasks and the outbox sweeper;
    "Retry" and "Cancel" are for what needs a person."""

    list_display = (
        "request_id",
        "kind",
        "status",
        "age",
        "account",
        "issue_scf_id",
        "attempts",
        "result_scf_id",
        "error",
    )
    list_filter = ("status", "kind")
    list_select_related = ("account",)
    search_fields = ("=request_id", "=issue_scf_id", "=result_scf_id")
    ordering = ("-created_at",)
    actions = ("retry_actions", "cancel_actions")

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, obj: SeeClickFixAction) -> str:
        return timesince(obj.created_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # queued by code (actions.queue_comment / queue_issue), with a request id

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record is what makes retries post once; editing it would break that

    @admin.action(description=_("Retry (failed or cancelled ones)"), permissions=["view"])
    def retry_actions(self, request: HttpRequest, queryset: QuerySet[SeeClickFixAction]) -> None:
        again = list(queryset.filter(status__in=[ActionStatus.FAILED, ActionStatus.CANCELLED]))
        for action in again:
            action.status = ActionStatus.PENDING
            action.completed_at = None
            action.created_at = timezone.now()  # a fresh OUTBOX_MAX_AGE
            action.save(update_fields=["status", "completed_at", "created_at", "updated_at"])
            wake_on_commit(action)
        self.message_user(
            request,
            ngettext("%d action queued again.", "%d actions queued again.", len(again))
            % len(again),
            messages.SUCCESS,
        )

    @admin.action(description=_("Cancel (queued ones, not yet sent)"), permissions=["view"])
    def cancel_actions(self, request: HttpRequest, queryset: QuerySet[SeeClickFixAction]) -> None:
        # Only what no run has started: one in flight may be reaching SeeClickFix right now.
        reason = f"Cancelled by {request.user} in the admin."
        cancelled = sum(
            cancel_action(pk, reason=reason) for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(
            request,
            ngettext("%d action cancelled.", "%d actions cancelled.", cancelled) % cancelled,
            messages.SUCCESS,
        )


@admin.register(SeeClickFixRevocation)
class SeeClickFixRevocationAdmin(RevocationAdminBase):
    """Tokens the site owes SeeClickFix a revocation of, and how that ended. A "failed" one
    means SeeClickFix may still honour the tokens: the error says what to do. Tokens are never
    shown; finished rows no longer hold them."""

    list_display = (
        "__str__",
        "status",
        "reason",
        "age",
        "environment",
        "user_scf_id",
        "issuer",
        "attempts",
        "error",
    )
    list_filter = ("status", "reason", "environment")
    search_fields = ("=user_scf_id",)
    ordering = ("-created_at",)
    exclude = (*HIDDEN_FIELDS, "revoked_fingerprints")

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, obj: SeeClickFixRevocation) -> str:
        return timesince(obj.created_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # owed by disconnects, reconnects, refreshes and deletions

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SeeClickFixAreaFeed)
class AreaFeedAdmin(AreaFeedAdminBase):
    """Where the area change feed stands (``SEECLICKFIX["AREAS"]``). Read-only: the cursor moves
    only with committed pages. Deleting a row restarts its area from ``FEED_BACKFILL``."""

    list_display = ("name", "environment", "definition", "cursor", "last_pass_at", "last_error")
    list_filter = ("environment",)
    search_fields = ("name",)
    ordering = ("environment", "name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the feed for each configured area

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a hand-moved cursor would skip changes or read them twice
