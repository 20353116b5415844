"""What the site asked SeeClickFix to do for a user, and how it went.

Posting a comment or reporting an issue happens in a Celery job (it may wait for the rate budget,
refresh a token, or be retried), so the page that asks cannot show the outcome. It records a
``Submission`` instead; the job fills in the outcome and the dashboard shows it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Submission(models.Model):
    class Kind(models.TextChoices):
        COMMENT = "comment", _("Comment")
        ISSUE = "issue", _("New issue")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        POSTED = "posted", _("Posted")
        MODERATED = "moderated", _("Held for moderation")
        FAILED = "failed", _("Failed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="scf_submissions",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    issue_scf_id = models.BigIntegerField(
        _("SeeClickFix issue"),
        null=True,
        blank=True,
        help_text=_("The issue commented on, or the issue this report created."),
    )
    text = models.TextField(_("text"), help_text=_("The comment, or the issue's description."))
    details = models.JSONField(
        _("details"), default=dict, blank=True, help_text=_("A new issue's place and answers.")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    result_scf_id = models.BigIntegerField(_("SeeClickFix id of the result"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("queued at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.QUEUED

    def finish(self, status: str, *, result_id: Any = None, error: str = "") -> None:
        self.status = status
        self.result_scf_id = int(result_id) if result_id is not None else None
        self.error = error[:500]
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "result_scf_id", "error", "finished_at"])
