"""API v2 under ``/api/v2``: the calls a linked user's jobs make (see the reference)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .http import Response, json_response
from .models import Issue, User, Vote
from .state import SORTS, IssueQuery, NotFoundError, normalize_status
from .timefmt import parse_filter_time

if TYPE_CHECKING:
    from .context import Context

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PER_PAGE_DETAILS = 20
DEFAULT_ZOOM = 12
DEFAULT_STATUSES = frozenset({"Open", "Acknowledged", "Closed"})
NOTICES_PER_USER = 3  # every signed-in user has a few notices from their city
NOTHING = (1.0, 1.0, 0.0, 0.0)  # a bounding box no point is inside


class Invalid(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def validation_error(ctx: Context, errors: dict[str, list[str]]) -> Response:
    """422 in the configured one of the three shapes SeeClickFix has been seen to use."""
    shape = ctx.behaviour.validation_error_shape
    if shape == "flat":
        return json_response({k: "; ".join(v) for k, v in errors.items()}, status=422)
    if shape == "errors":
        return json_response({"errors": {k: "; ".join(v) for k, v in errors.items()}}, status=422)
    return json_response({"errors": errors}, status=422)


def not_found() -> Response:
    return json_response({"message": "Not Found"}, status=404)


def unauthorized() -> Response:
    # No credentials at all: RFC 6750 3.1 says no error code in the challenge.
    return json_response(
        {"message": "You need to sign in or sign up before continuing."},
        status=401,
        headers=[("WWW-Authenticate", 'Bearer realm="Doorkeeper"')],
    )


def forbidden(message: str) -> Response:
    return json_response({"errors": {"base": [message]}}, status=403)


def unparsable() -> Response:
    return json_response({"request": "Unable to parse JSON"}, status=400)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _float(params: dict[str, str], name: str, errors: dict[str, list[str]]) -> float | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        errors.setdefault(name, []).append("is not a number")
        return None


def parse_issue_query(ctx: Context, params: dict[str, str]) -> IssueQuery:
    """The filters of ``GET /issues`` (and ``/profile/issues``). Raises ``Invalid``."""
    errors: dict[str, list[str]] = {}
    query = IssueQuery()
    if params.get("status"):
        wanted = set()
        for part in params["status"].split(","):
            try:
                wanted.add(normalize_status(part))
            except ValueError:
                continue  # unknown statuses are ignored, like the live service
        query.statuses = frozenset(wanted) or DEFAULT_STATUSES
    sort = params.get("sort", "created_at")
    query.sort = sort if sort in SORTS else "created_at"
    query.descending = params.get("sort_direction", "DESC").upper() != "ASC"
    for name, attr in (
        ("after", "created_after"),
        ("before", "created_before"),
        ("updated_at_after", "updated_after"),
        ("updated_at_before", "updated_before"),
    ):
        if params.get(name):
            try:
                setattr(query, attr, parse_filter_time(params[name]))
            except ValueError:
                errors.setdefault(name, []).append("is not a valid time (YYYY-MM-DDTHH:MM:SSZ)")
    if params.get("search"):
        query.search = params["search"]
    if params.get("request_types"):
        query.request_types = frozenset(p.strip() for p in params["request_types"].split(","))
    if params.get("assigned_to_me") == "true":
        query.assignee_ids = frozenset({ctx.user.id if ctx.user else -1})
    assigned = params.get("assigned")
    if assigned == "unassigned":
        query.unassigned = True
    elif assigned:
        try:
            query.assignee_ids = frozenset(int(p) for p in assigned.split(","))
        except ValueError:
            errors.setdefault("assigned", []).append("must be user ids or 'unassigned'")
    box = [_float(params, n, errors) for n in ("min_lat", "min_lng", "max_lat", "max_lng")]
    if all(v is not None for v in box):
        query.bbox = (box[0], box[1], box[2], box[3])  # type: ignore[assignment]
    lat, lng = _float(params, "lat", errors), _float(params, "lng", errors)
    if lat is not None and lng is not None:
        zoom = min(20, max(1, _int(params.get("zoom"), DEFAULT_ZOOM)))
        query.near = (lat, lng, 40075.0 / 2**zoom)  # the width of one map tile at that zoom
    if params.get("place_url"):
        place = ctx.state.places.get(params["place_url"])
        query.bbox = place.bbox if place else NOTHING
    if errors:
        raise Invalid(errors)
    return query


def page_params(params: dict[str, str], largest: int) -> tuple[int, int]:
    per_page = _int(params.get("per_page"), DEFAULT_PER_PAGE)
    if per_page < 1:
        per_page = DEFAULT_PER_PAGE
    return max(1, _int(params.get("page"), 1)), min(per_page, largest)


def largest_page(ctx: Context, details: bool) -> int:
    """The page size the caller may have: 100 with a user's token, 20 anonymously or with
    ``details=true`` (``anonymous_per_page``)."""
    if details:
        return min(MAX_PER_PAGE_DETAILS, ctx.behaviour.anonymous_per_page)
    if ctx.user is None:
        return ctx.behaviour.anonymous_per_page
    return MAX_PER_PAGE


def paginated(
    ctx: Context,
    endpoint: str,
    key: str,
    items: list[Any],
    render: Callable[[Any], Any],
    *,
    details: bool = False,
) -> Response:
    params = ctx.request.query
    page, per_page = page_params(params, largest_page(ctx, details))
    cap = ctx.behaviour.page_cap
    past_cap = bool(cap) and page > cap
    if past_cap and ctx.behaviour.page_cap_answer == "404":
        return not_found()
    if past_cap and ctx.behaviour.page_cap_answer == "repeat":
        page = cap
    start = (page - 1) * per_page
    chosen = (
        []
        if past_cap and ctx.behaviour.page_cap_answer == "empty"
        else items[start : start + per_page]
    )
    body = {
        "errors": ctx.shapes.list_errors(),
        "metadata": {
            "pagination": ctx.shapes.pagination(endpoint, params, page, per_page, len(items))
        },
        key: [render(item) for item in chosen],
    }
    return json_response(body)


class ApiV2:
    """The handlers. Each takes the context and the URL's captured groups."""

    # the current user ------------------------------------------------------------------------

    def profile(self, ctx: Context) -> Response:
        if ctx.user is None:
            return json_response({"id": None})
        return json_response(ctx.shapes.profile(ctx.user))

    def emails(self, ctx: Context) -> Response:
        if ctx.user is None:
            return unauthorized()
        return json_response(ctx.shapes.emails(ctx.user))

    def profile_issues(self, ctx: Context) -> Response:
        if ctx.user is None:
            return unauthorized()
        return self._issue_list(ctx, "profile/issues", reporter=ctx.user)

    def notices(self, ctx: Context) -> Response:
        if ctx.user is None:
            return unauthorized()
        user = ctx.user
        numbers = list(range(1, NOTICES_PER_USER + 1))
        return paginated(
            ctx, "profile/notices", "notices", numbers, lambda n: ctx.shapes.notice(n, user)
        )

    # issues ------------------------------------------------------------------------------------

    def issues(self, ctx: Context) -> Response:
        return self._issue_list(ctx, "issues", reporter=None)

    def organization_issues(self, ctx: Context, organization_id: str) -> Response:
        """An organisation's issues (members only). Organisations are the seeded places: an
        issue belongs to the one whose area holds it."""
        wanted = _int(organization_id, -1)
        place = next((p for p in ctx.state.places.values() if p.id == wanted), None)
        if place is None:
            return not_found()
        if ctx.user is None:
            return unauthorized()
        if not ctx.user.can_acknowledge:
            return forbidden("You are not a member of this organization.")
        return self._issue_list(
            ctx,
            f"organizations/{place.id}/issues",
            reporter=None,
            keep=lambda issue: place.contains(issue.lat, issue.lng),
        )

    def _issue_list(
        self,
        ctx: Context,
        endpoint: str,
        reporter: User | None,
        keep: Callable[[Issue], bool] | None = None,
    ) -> Response:
        params = ctx.request.query
        try:
            query = parse_issue_query(ctx, params)
        except Invalid as err:
            return validation_error(ctx, err.errors)
        query.reporter_id = reporter.id if reporter else None
        details = params.get("details") == "true"
        fields = params.get("fields[issue]")
        issues = ctx.state.query_issues(query)
        if keep is not None:
            issues = [issue for issue in issues if keep(issue)]
        return paginated(
            ctx,
            endpoint,
            "issues",
            issues,
            lambda issue: ctx.shapes.sparse(
                ctx.shapes.issue_in_list(issue, ctx.user, details), fields
            ),
            details=details,
        )

    def issue(self, ctx: Context, issue_id: str) -> Response:
        try:
            issue = ctx.state.issue(int(issue_id))
        except NotFoundError:
            return not_found()
        query = ctx.request.query
        details = query.get("details") == "true"
        body = ctx.shapes.issue(issue, ctx.user, details)
        return json_response(ctx.shapes.sparse(body, query.get("fields[issue]")))

    def new_issue_options(self, ctx: Context) -> Response:
        errors: dict[str, list[str]] = {}
        params = ctx.request.query
        lat, lng = _float(params, "lat", errors), _float(params, "lng", errors)
        if lat is None or lng is None:
            for name in ("lat", "lng"):
                if not params.get(name):
                    errors.setdefault(name, []).append("can't be blank")
            return validation_error(ctx, errors)
        offered = [ctx.shapes.request_type_brief(r) for r in self._request_types_at(ctx, lat, lng)]
        offered.append(ctx.shapes.other_request_type_brief())
        return json_response({"errors": ctx.shapes.list_errors(), "request_types": offered})

    @staticmethod
    def _request_types_at(ctx: Context, lat: float, lng: float) -> list[Any]:
        return [
            r
            for r in ctx.state.request_types.values()
            if (place := ctx.state.places.get(r.place_url)) is not None and place.contains(lat, lng)
        ]

    def request_type(self, ctx: Context, type_id: str) -> Response:
        if type_id == "other":
            return json_response(ctx.shapes.other_request_type())
        found = ctx.state.request_types.get(_int(type_id, -1))
        if found is None:
            return not_found()
        return json_response(ctx.shapes.request_type(found))

    def create_issue(self, ctx: Context) -> Response:
        if ctx.user is None:
            return unauthorized()
        try:
            data = self._issue_body(ctx)
        except ValueError:
            return unparsable()
        errors: dict[str, list[str]] = {}
        lat, lng = _float(data, "lat", errors), _float(data, "lng", errors)
        for name, value in (("lat", lat), ("lng", lng)):
            if value is None and name not in errors:
                errors[name] = ["can't be blank"]
        raw_type = str(data.get("request_type_id") or "")
        answers: dict[str, str] = data.get("answers") or {}
        request_type = None
        if not raw_type:
            errors["request_type_id"] = ["can't be blank"]
        elif raw_type == "other":
            if not str(data.get("description") or data.get("summary") or "").strip():
                errors["description"] = ["can't be blank when the request type is other"]
        else:
            request_type = ctx.state.request_types.get(_int(raw_type, -1))
            if request_type is None:
                errors["request_type_id"] = ["is not a known request type"]
            elif (
                lat is not None
                and lng is not None
                and request_type not in (self._request_types_at(ctx, lat, lng))
            ):
                errors["request_type_id"] = ["is not offered at this location"]
        if request_type is not None:
            for question in request_type.questions:
                answer = str(answers.get(question.primary_key, "")).strip()
                if question.required and not answer:
                    errors[question.primary_key] = ["can't be blank"]
                elif answer and question.choices and answer not in question.choices:
                    errors[question.primary_key] = [
                        f"must be one of: {', '.join(question.choices)}"
                    ]
        if errors:
            return validation_error(ctx, errors)
        assert lat is not None
        assert lng is not None
        summary = request_type.title if request_type else str(data.get("summary") or "Other")
        issue = ctx.state.add_issue(
            ctx.user,
            summary=summary,
            description=str(data.get("description") or ""),
            lat=lat,
            lng=lng,
            address=str(data.get("address") or f"{lat:.5f}, {lng:.5f}"),
            request_type_id=request_type.id if request_type else "other",
            answers={k: str(v) for k, v in answers.items()},
            pending=ctx.behaviour.moderate_issues,
        )
        ctx.log.count("api.issues.created")
        if issue.pending:
            return json_response({"metadata": {"moderated": True}}, status=202)
        response = json_response(ctx.shapes.issue(issue, ctx.user, False), status=201)
        response.headers.append(("Location", f"{ctx.shapes.api}/issues/{issue.id}"))
        return response

    @staticmethod
    def _issue_body(ctx: Context) -> dict[str, Any]:
        if ctx.request.content_type == "application/json":
            data = ctx.request.json()
            if not isinstance(data, dict):
                raise ValueError("a JSON object is required")
            if isinstance(data.get("answers"), str):
                data["answers"] = json.loads(data["answers"])
            return data
        data = {}
        answers: dict[str, str] = {}
        for key, value in parse_qsl(ctx.request.body.decode(), keep_blank_values=True):
            if key.startswith("answers[") and key.endswith("]"):
                answers[key[8:-1]] = value
            else:
                data[key] = value
        return {**data, "answers": answers}

    # comments and status changes -------------------------------------------------------------

    def comments(self, ctx: Context, issue_id: str) -> Response:
        try:
            issue = ctx.state.issue(int(issue_id))
        except NotFoundError:
            return not_found()
        return paginated(
            ctx,
            f"issues/{issue.id}/comments",
            "comments",
            ctx.state.visible_comments(issue),
            lambda comment: ctx.shapes.comment(comment, issue),
        )

    def _comment_text(self, ctx: Context) -> str:
        if ctx.request.content_type == "application/json":
            data = ctx.request.json()
            return str(data.get("comment") or "") if isinstance(data, dict) else ""
        return ctx.request.form().get("comment", "")

    def add_comment(self, ctx: Context, issue_id: str) -> Response:
        return self._comment_action(ctx, issue_id, None)

    def close(self, ctx: Context, issue_id: str) -> Response:
        return self._comment_action(ctx, issue_id, "Closed")

    def open(self, ctx: Context, issue_id: str) -> Response:
        return self._comment_action(ctx, issue_id, "Open")

    def acknowledge(self, ctx: Context, issue_id: str) -> Response:
        return self._comment_action(ctx, issue_id, "Acknowledged")

    def _comment_action(self, ctx: Context, issue_id: str, status: str | None) -> Response:
        if ctx.user is None:
            return unauthorized()
        try:
            issue = ctx.state.issue(int(issue_id))
            text = self._comment_text(ctx).strip()
        except NotFoundError:
            return not_found()
        except ValueError:
            return unparsable()
        user = ctx.user
        if status == "Acknowledged" and not user.can_acknowledge:
            return forbidden("You are not allowed to acknowledge issues.")
        if status in ("Closed", "Open") and not (
            user.can_acknowledge or user.id == issue.reporter_id
        ):
            return forbidden("Only the reporter or an official can change this issue's status.")
        if not text:
            return validation_error(ctx, {"comment": ["can't be blank"]})
        with ctx.state.lock:
            moderated = status is None and ctx.behaviour.moderate_comments
            comment = ctx.state.add_comment(issue, user, text, pending=moderated)
            if status is not None and issue.status != status:
                ctx.state.update_issue(issue.id, status=status, updated_at=comment.created_at)
        ctx.log.count("api.comments.created" if status is None else f"api.issues.{status.lower()}")
        if moderated:
            return json_response({"metadata": {"moderated": True}}, status=202)
        return json_response(ctx.shapes.comment_created(comment, issue), status=201)

    # follow and vote ---------------------------------------------------------------------------

    def follow(self, ctx: Context, issue_id: str) -> Response:
        return self._toggle(ctx, issue_id, "follow")

    def vote(self, ctx: Context, issue_id: str) -> Response:
        return self._toggle(ctx, issue_id, "vote")

    def _toggle(self, ctx: Context, issue_id: str, what: str) -> Response:
        if ctx.user is None:
            return unauthorized()
        try:
            issue = ctx.state.issue(int(issue_id))
        except NotFoundError:
            return not_found()
        user_id = ctx.user.id
        with ctx.state.lock:
            on = (
                user_id in issue.followers
                if what == "follow"
                else any(v.user_id == user_id for v in issue.votes)
            )
            if ctx.request.method == "DELETE":
                if not on:
                    return not_found()
                if what == "follow":
                    issue.followers.discard(user_id)
                else:
                    issue.votes = [v for v in issue.votes if v.user_id != user_id]
                ctx.state.touch()
                return Response(status=204)
            if on:
                message = "already following" if what == "follow" else "already voted"
                return validation_error(ctx, {what: [message]})
            if what == "follow":
                issue.followers.add(user_id)
            else:
                issue.votes.append(Vote(user_id, ctx.state.clock.now().replace(microsecond=0)))
                issue.rating += 1
            ctx.state.touch()
        return json_response({what: 1}, status=201)

    # people and places -------------------------------------------------------------------------

    def user(self, ctx: Context, user_id: str) -> Response:
        found = ctx.state.users.get(_int(user_id, -1))
        if found is None:
            return not_found()
        return json_response(ctx.shapes.public_user(found))

    def places(self, ctx: Context) -> Response:
        search = (ctx.request.query.get("search") or "").lower()
        found = [
            p
            for p in ctx.state.places.values()
            if not search or search in p.name.lower() or search in p.url_name
        ]
        return paginated(ctx, "places", "places", found, ctx.shapes.place)

    def place(self, ctx: Context, place_id: str) -> Response:
        wanted = _int(place_id, -1)
        for place in ctx.state.places.values():
            if place.id == wanted:
                return json_response(ctx.shapes.place(place))
        return not_found()
