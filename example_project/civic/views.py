"""The site's pages. Talking to SeeClickFix happens in Celery jobs; pages only read and queue.

Comments and reports go through the library's ``queue_comment`` / ``queue_issue``: each is a
``SeeClickFixAction`` row posted once by a task, whose outcome (posted, held for moderation,
failed and why) the pages show. The one call made during a request is the report form's: it asks
SeeClickFix what can be reported (request types and their questions) and caches the answer for an
hour, since it is the same for everyone.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from django_seeclickfix.actions import queue_comment, queue_issue
from django_seeclickfix.client import RequestType, client_for_user
from django_seeclickfix.conf import app_settings
from django_seeclickfix.current import account_for_request
from django_seeclickfix.exceptions import ActionConflict, ReauthRequired, SeeClickFixError
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixAction, SeeClickFixIssue
from django_seeclickfix.tasks import sync_account

from .forms import CommentForm, DetailsForm, WhereWhatForm
from .spots import BY_KEY, CENTER

logger = logging.getLogger(__name__)

REQUEST_TYPES_TTL = 3600
ISSUES_PER_PAGE = 10
RECENT_ACTIONS = 8
UNFINISHED = (SeeClickFixAction.Status.PENDING, SeeClickFixAction.Status.IN_FLIGHT)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "civic/home.html")


def _usable(account: SeeClickFixAccount | None) -> bool:
    return account is not None and account.status == SeeClickFixAccount.Status.ACTIVE


def _request_id(request: HttpRequest, form_key: str) -> str:
    """The form's one-time key, scoped to the user so nobody can collide with another's."""
    return f"elmcity:{request.user.pk}:{form_key}"


def _actions(account: SeeClickFixAccount | None) -> Any:
    if account is None:
        return SeeClickFixAction.objects.none()
    return SeeClickFixAction.objects.filter(account=account).order_by("-created_at", "-pk")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    issues = SeeClickFixIssue.objects.none()
    if account is not None and account.status != SeeClickFixAccount.Status.REVOKED:
        issues = account.issues.order_by("-scf_updated_at", "-scf_id")
    page = Paginator(issues, ISSUES_PER_PAGE).get_page(request.GET.get("page"))
    actions = _actions(account)
    return render(
        request,
        "civic/dashboard.html",
        {
            "account": account,
            "linked": account is not None and account.status != SeeClickFixAccount.Status.REVOKED,
            "profile": account.profile if account is not None else {},
            "page": page,
            "actions": actions[:RECENT_ACTIONS],
            "pending": actions.filter(status__in=UNFINISHED).exists(),
        },
    )


@require_POST
@login_required
def sync_now(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    if not _usable(account):
        messages.error(request, _("Connect SeeClickFix first."))
    else:
        assert account is not None
        sync_account.delay_on_commit(account.pk)
        messages.success(request, _("A sync is queued. Your issues refresh in a moment."))
    return redirect("dashboard")


def _own_issue(account: SeeClickFixAccount | None, scf_id: int) -> SeeClickFixIssue:
    """An issue this site synced for the signed-in user (the only issues it keeps)."""
    if account is None:
        raise Http404
    return get_object_or_404(
        SeeClickFixIssue, environment=app_settings.ENVIRONMENT, scf_id=scf_id, account=account
    )


@require_http_methods(["GET", "POST"])
@login_required
def issue_detail(request: HttpRequest, scf_id: int) -> HttpResponse:
    account = account_for_request(request)
    issue = _own_issue(account, scf_id)
    form = CommentForm(request.POST or None)
    if request.method == "POST":
        if not _usable(account):
            messages.error(request, _("Reconnect SeeClickFix to comment."))
        elif form.is_valid():
            assert account is not None
            try:
                queue_comment(
                    account,
                    issue.scf_id,
                    form.cleaned_data["comment"],
                    request_id=_request_id(request, form.cleaned_data["request_id"]),
                )
            except ActionConflict:
                messages.info(request, _("This form was already sent."))
            else:
                messages.success(
                    request,
                    _("Your comment is queued; it is posted to SeeClickFix in the background."),
                )
            return redirect("issue", scf_id=issue.scf_id)
    comments = issue.raw.get("comments") if isinstance(issue.raw, dict) else None
    actions = _actions(account).filter(
        kind=SeeClickFixAction.Kind.COMMENT, issue_scf_id=issue.scf_id
    )
    return render(
        request,
        "civic/issue.html",
        {
            "issue": issue,
            "form": form,
            "can_act": _usable(account),
            "comments": comments if isinstance(comments, list) else None,
            "actions": actions,
            "pending": actions.filter(status__in=UNFINISHED).exists(),
        },
    )


def _cached(key: str, fetch: Any) -> Any:
    value = cache.get(key)
    if value is None:
        value = fetch()
        cache.set(key, value, REQUEST_TYPES_TTL)
    return value


def _request_types(request: HttpRequest) -> list[RequestType]:
    def fetch() -> list[RequestType]:
        return client_for_user(request.user).request_types_at(CENTER.lat, CENTER.lng)

    key = f"elmcity:request-types:{app_settings.ENVIRONMENT}:{CENTER.lat}:{CENTER.lng}"
    return list(_cached(key, fetch))


def _request_type(request: HttpRequest, request_type_id: str) -> RequestType:
    def fetch() -> RequestType:
        return client_for_user(request.user).get_request_type(request_type_id)

    found: RequestType = _cached(
        f"elmcity:request-type:{app_settings.ENVIRONMENT}:{request_type_id}", fetch
    )
    return found


def _cannot_report(request: HttpRequest, err: SeeClickFixError) -> HttpResponse:
    if isinstance(err, ReauthRequired):
        messages.error(request, _("Reconnect SeeClickFix to report an issue."))
    else:
        logger.warning("Could not load SeeClickFix request types: %s", type(err).__name__)
        messages.error(
            request, _("SeeClickFix did not answer just now. Please try again in a minute.")
        )
    return redirect("dashboard")


@login_required
def report(request: HttpRequest) -> HttpResponse:
    """Step 1: where and what. Submits (GET) to step 2."""
    if not _usable(account_for_request(request)):
        messages.info(request, _("Connect SeeClickFix to report an issue from here."))
        return redirect("dashboard")
    try:
        request_types = _request_types(request)
    except SeeClickFixError as err:
        return _cannot_report(request, err)
    form = WhereWhatForm(request_types=request_types)
    return render(request, "civic/report.html", {"form": form})


@require_http_methods(["GET", "POST"])
@login_required
def report_details(request: HttpRequest) -> HttpResponse:
    """Step 2: the request type's questions and a description; POST queues the report."""
    if not _usable(account_for_request(request)):
        messages.info(request, _("Connect SeeClickFix to report an issue from here."))
        return redirect("dashboard")
    source = request.POST if request.method == "POST" else request.GET
    try:
        request_types = _request_types(request)
    except SeeClickFixError as err:
        return _cannot_report(request, err)
    where_what = WhereWhatForm(source, request_types=request_types)
    if not where_what.is_valid():
        return render(request, "civic/report.html", {"form": where_what})
    spot = BY_KEY[where_what.cleaned_data["spot"]]
    type_id = where_what.cleaned_data["request_type"]
    try:
        request_type = _request_type(request, type_id)
    except SeeClickFixError as err:
        return _cannot_report(request, err)
    form = DetailsForm(request.POST or None, request_type=request_type)
    if request.method == "POST" and form.is_valid():
        try:
            assert request.user.is_authenticated  # login_required
            queue_issue(
                request.user,
                lat=spot.lat,
                lng=spot.lng,
                request_type_id=request_type.id if request_type.id is not None else type_id,
                answers=form.answers(),
                address=spot.address,
                description=form.cleaned_data["description"],
                summary=form.cleaned_data.get("summary") or None,
                request_id=_request_id(request, form.cleaned_data["request_id"]),
            )
        except ActionConflict:
            messages.info(request, _("This report was already sent."))
        else:
            messages.success(
                request,
                _("Your report is queued; it is sent to SeeClickFix in the background."),
            )
        return redirect(reverse("dashboard") + "#sent")
    return render(
        request,
        "civic/report_details.html",
        {"form": form, "spot": spot, "request_type": request_type, "where_what": where_what},
    )
