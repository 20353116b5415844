"""JSON bodies in SeeClickFix's shapes: by default the keys and value types of the real service
as third parties captured it (2017-2026, the reference's "Real shapes and limits"); with the
``sample_shapes`` quirk, those of the documented samples.

``Shapes`` is built per request: it knows the origin (so URLs point back at this emulator), who
is asking (``current_user_relationship``) and the quirks switched on.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from .config import Behaviour
from .models import Comment, Issue, Place, RequestType, User
from .state import State
from .timefmt import format_eastern, format_utc_z

NULL_STRING = "null"
COMMENT_EDIT_WINDOW = timedelta(minutes=15)
OTHER_QUESTIONS = (
    ("summary", "Summary", "text", True),
    ("description", "Description", "textarea", False),
    ("issue_image", "Image", "file", False),
)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "issue"


class Shapes:
    def __init__(self, state: State, behaviour: Behaviour, origin: str) -> None:
        self.state = state
        self.behaviour = behaviour
        self.quirks = behaviour.quirks
        self.origin = origin.rstrip("/")
        self.api = f"{self.origin}/api/v2"

    # scalars -----------------------------------------------------------------------------------

    def ts(self, moment: datetime | None) -> str | None:
        return format_utc_z(moment) if self.quirks.utc_timestamps else format_eastern(moment)

    def rating(self, value: int) -> int | str:
        return str(value) if self.quirks.rating_as_string else value

    def _null(self, value: Any) -> Any:
        return NULL_STRING if value is None and self.quirks.string_null_pagination else value

    @property
    def real(self) -> bool:
        return not self.quirks.sample_shapes

    def list_errors(self) -> dict[str, Any] | None:
        """A list envelope's ``errors``: ``{}`` in every live capture, ``null`` in the docs."""
        return {} if self.real else None

    # people ------------------------------------------------------------------------------------

    def avatar(self, user: User) -> dict[str, str]:
        base = f"{self.origin}/files/user_images/{user.id}"
        return {"full": f"{base}/avatar.png", "square_100x100": f"{base}/avatar_square.png"}

    def user_brief(self, user: User) -> dict[str, Any]:
        """The person object inside issues and comments (reporter, assignee, commenter)."""
        data: dict[str, Any] = {
            "avatar": self.avatar(user),
            "civic_points": user.civic_points,
            "id": user.id,
            "name": user.name,
            "role": user.role,
            "witty_title": user.witty_title,
        }
        if self.real:
            data["html_url"] = f"{self.origin}/users/{user.id}"
        return data

    def reporter(self, issue: Issue) -> dict[str, Any]:
        if issue.anonymous and self.real:
            return {
                "avatar": {
                    "full": f"{self.origin}/files/user_images/anonymous/avatar.png",
                    "square_100x100": f"{self.origin}/files/user_images/anonymous/square.png",
                },
                "civic_points": 0,
                "id": 0,
                "name": "An anonymous SeeClickFix user",
                "role": "Registered User",
                "witty_title": "",
                "html_url": f"{self.origin}/users/anonymous",
            }
        return self.user_brief(self.state.users[issue.reporter_id])

    def home_place(self, user: User) -> dict[str, Any] | None:
        place = next((p for p in self.state.places.values() if p.url_name == user.home_place), None)
        if place is None:
            return None
        return {"id": place.id, "name": place.name, "url_name": place.url_name}

    def public_user(self, user: User) -> dict[str, Any]:
        return {**self.user_brief(user), "created_at": self.ts(user.created_at)}

    def profile(self, user: User) -> dict[str, Any]:
        stats = self.state.user_stats(user.id)
        return {
            "avatar": self.avatar(user),
            "civic_points": user.civic_points,
            "closed_issue_count": stats["closed"],
            "comments_count": stats["comments"],
            "created_at": self.ts(user.created_at),
            "following_issue_count": stats["following"],
            "id": user.id,
            "name": user.name,
            "permissions": {"can_acknowledge": user.can_acknowledge},
            "reported_issue_count": stats["reported"],
            "updated_at": self.ts(user.updated_at),
            "voted_issue_count": stats["voted"],
            "witty_title": user.witty_title,
            # Seen in 2026 responses, not documented: clients must treat them as optional.
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "time_zone": user.time_zone,
            "home_place": self.home_place(user),
        }

    def emails(self, user: User) -> dict[str, Any]:
        addresses = [(user.email, True), *user.other_emails]
        return {
            "emails": [
                {"id": user.id * 10 + n, "confirmed": confirmed, "email": address}
                for n, (address, confirmed) in enumerate(addresses)
            ]
        }

    # issues ------------------------------------------------------------------------------------

    def _issue_media(self, issue: Issue) -> dict[str, Any]:
        if not issue.has_media:
            return {
                "image_full": None,
                "image_square_100x100": None,
                "representative_image_url": f"{self.origin}/files/request_type_images/default.png",
                "video_url": None,
            }
        base = f"{self.origin}/files/issue_images/{issue.id}"
        return {
            "image_full": f"{base}/photo.png",
            "image_square_100x100": f"{base}/photo_square.png",
            "representative_image_url": f"{base}/photo_square.png",
            "video_url": None,
        }

    def _issue_common(self, issue: Issue) -> dict[str, Any]:
        url = f"{self.api}/issues/{issue.id}"
        data: dict[str, Any] = {
            "id": issue.id,
            "status": issue.status,
            "summary": issue.summary,
            "description": issue.description,
            "rating": self.rating(issue.rating),
            "lat": issue.lat,
            "lng": issue.lng,
            "point": {"type": "Point", "coordinates": [issue.lng, issue.lat]},
            "address": issue.address,
            "created_at": self.ts(issue.created_at),
            "updated_at": self.ts(issue.updated_at),
            "acknowledged_at": self.ts(issue.acknowledged_at),
            "closed_at": self.ts(issue.closed_at),
            "reporter": self.reporter(issue),
            "shortened_url": f"{self.origin}/i/{issue.id}" if not self.real else None,
            "url": url,
            "html_url": f"{self.origin}/issues/{issue.id}-{slugify(issue.summary)}",
            "media": self._issue_media(issue),
            "flag_url": f"{url}/flag",
        }
        if self.real:
            data.update(
                {
                    "comment_url": f"{url}/comments",
                    "request_type": self._issue_request_type(issue),
                    "transitions": self._transitions(issue),
                    "private_visibility": False,
                    # The emulator keeps no reopen history: reopened issues say null too.
                    "reopened_at": None,
                }
            )
        return data

    def _issue_request_type(self, issue: Issue) -> dict[str, Any]:
        request_type = (
            self.state.request_types.get(issue.request_type_id)
            if isinstance(issue.request_type_id, int)
            else None
        )
        if request_type is None:
            return {}  # as about 1 % of live list items ("Other" reports among them)
        return {
            **self.request_type_brief(request_type),
            "related_issues_url": f"{self.api}/issues?request_types={request_type.id}",
        }

    def _transitions(self, issue: Issue) -> dict[str, str]:
        url = f"{self.api}/issues/{issue.id}"
        if issue.status in ("Closed", "Archived"):
            return {"open_url": f"{url}/open"}
        return {"close_url": f"{url}/close"}

    def issue_in_list(self, issue: Issue, viewer: User | None, details: bool) -> dict[str, Any]:
        data = self._issue_common(issue)
        if not self.real:
            data["comments_url"] = f"{self.api}/issues/{issue.id}/comments"  # the sample's name
        if details:
            data.update(self._details(issue, viewer))
        return data

    def issue(self, issue: Issue, viewer: User | None, details: bool) -> dict[str, Any]:
        data = self._issue_common(issue)
        if self.real:
            data["show_blocked_issue_text"] = False
        if details or not self.real:
            # Only the details sample (and the samples' plain issue) carry these.
            visible = self.state.visible_comments(issue)
            assignee = self.state.users.get(issue.assignee_id) if issue.assignee_id else None
            data.update(
                {
                    "assignee": self.user_brief(assignee) if assignee else None,
                    "comment_url": f"{self.api}/issues/{issue.id}/comments",
                    "comment_count": len(visible),
                    "vote_count": len(issue.votes),
                    "integrations": issue.integration,
                }
            )
        if details:
            data.update(self._details(issue, viewer))
        return data

    def _details(self, issue: Issue, viewer: User | None) -> dict[str, Any]:
        request_type = (
            self.state.request_types.get(issue.request_type_id)
            if isinstance(issue.request_type_id, int)
            else None
        )
        questions = []
        if request_type is not None:
            for question in request_type.questions:
                if question.primary_key in issue.answers:
                    questions.append(
                        {
                            "question": question.question,
                            "answer": issue.answers[question.primary_key],
                        }
                    )
        viewer_id = viewer.id if viewer else None
        return {
            "comments": [
                self.comment(c, issue, with_issue=False) for c in self.state.visible_comments(issue)
            ],
            "questions": questions,
            "votes": [{"created_at": self.ts(v.created_at)} for v in issue.votes],
            "current_user_relationship": {
                "assignee": viewer_id is not None and issue.assignee_id == viewer_id,
                "following": viewer_id in issue.followers,
                "reporter": viewer_id == issue.reporter_id,
                "voted": any(v.user_id == viewer_id for v in issue.votes),
            },
        }

    # comments ----------------------------------------------------------------------------------

    def _comment_media(self) -> dict[str, Any]:
        return {"image_full": None, "image_square_100x100": None, "video_url": None}

    def comment(self, comment: Comment, issue: Issue, *, with_issue: bool = True) -> dict[str, Any]:
        """A comment as ``GET /issues/<id>/comments`` lists it: no ``id``; the real service
        carries it only in ``flag_url`` (the samples' link holds the issue's id instead)."""
        data: dict[str, Any] = {
            "comment": comment.body,
            "commenter": self.user_brief(self.state.users[comment.commenter_id]),
            "media": self._comment_media(),
            "created_at": self.ts(comment.created_at),
            "updated_at": self.ts(comment.updated_at),
        }
        if self.real:
            data.update(
                {
                    "editable_until": self.ts(comment.created_at + COMMENT_EDIT_WINDOW),
                    "last_edited_at": None,
                    "show_blocked_comment_text": False,
                    "issue_url": f"{self.api}/issues/{issue.id}",
                    "flag_url": f"{self.api}/comments/{comment.id}/flag",
                }
            )
        else:
            data["flag_url"] = f"{self.api}/issues/{issue.id}/comments/flag"
            if with_issue:
                data["issue"] = {"rating": self.rating(issue.rating), "status": issue.status}
        return data

    def comment_created(self, comment: Comment, issue: Issue) -> dict[str, Any]:
        return {
            "moderated": False,
            "created_at": self.ts(comment.created_at),
            "updated_at": self.ts(comment.updated_at),
            "comment": comment.body,
            "body": comment.body,
            "commenter": self.user_brief(self.state.users[comment.commenter_id]),
            "issue": {"status": issue.status, "rating": self.rating(issue.rating)},
            "media": {"video_url": None, "image_full": None, "image_square_100x100": None},
        }

    # places and request types ------------------------------------------------------------------

    def place(self, place: Place) -> dict[str, Any]:
        lat, lng = place.center
        return {
            "id": place.id,
            "name": place.name,
            "url_name": place.url_name,
            "county": place.county,
            "state": place.state,
            "center": {"type": "Point", "coordinates": [lng, lat]},
            "place_type": "City",
            "avatar": {
                "full": f"{self.origin}/files/place/{place.id}/avatar.png",
                "square": f"{self.origin}/files/place/{place.id}/avatar_square.png",
            },
            "url": f"{self.api}/places/{place.id}",
            "html_url": f"{self.origin}/{place.url_name}",
            "html_report_url": f"{self.origin}/{place.url_name}/report",
        }

    def request_type_brief(self, request_type: RequestType) -> dict[str, Any]:
        return {
            "id": request_type.id,
            "title": request_type.title,
            "organization": request_type.organization,
            "url": f"{self.api}/request_types/{request_type.id}",
        }

    def request_type(self, request_type: RequestType) -> dict[str, Any]:
        return {
            **self.request_type_brief(request_type),
            "questions": [
                {
                    "primary_key": q.primary_key,
                    "question": q.question,
                    "question_type": q.answer_kind,
                    "answer_kind": q.answer_kind,
                    "response_required": q.required,
                    "response_type": "multiple" if q.answer_kind == "multivaluelist" else "single",
                    "answer_kept_private": q.private,
                    "select_values": [{"key": c, "name": c} for c in q.choices],
                }
                for q in request_type.questions
            ],
        }

    def other_request_type_brief(self) -> dict[str, Any]:
        """The "Other" entry every ``/issues/new`` answer ends with."""
        return {
            "id": None,
            "title": "Other",
            "organization": None,
            "url": f"{self.api}/request_types/other",
        }

    def other_request_type(self) -> dict[str, Any]:
        return {
            **self.other_request_type_brief(),
            "questions": [
                {
                    "primary_key": key,
                    "question": text,
                    "question_type": kind,
                    "answer_kind": kind,
                    "response_required": required,
                    "response_type": "single",
                    "answer_kept_private": False,
                    "select_values": [],
                }
                for key, text, kind, required in OTHER_QUESTIONS
            ],
        }

    # notices -----------------------------------------------------------------------------------

    def notice(self, number: int, user: User) -> dict[str, Any]:
        place = self.home_place(user)
        published = self.state.clock.now() - timedelta(days=number)
        return {
            "id": number,
            "sender": place["name"] if place else "SeeClickFix",
            "subject": f"Notice {number}",
            "published_at": self.ts(published),
            "last_edited_at": None,
            "organization_logo_url": None,
            "html_url": f"{self.origin}/notices/{number}",
        }

    # fieldsets ---------------------------------------------------------------------------------

    @staticmethod
    def sparse(data: dict[str, Any], fields: str | None) -> dict[str, Any]:
        """``fields[issue]=id,status,…``: only the keys asked for (unknown names are ignored)."""
        if not fields:
            return data
        wanted = {name.strip() for name in fields.split(",") if name.strip()}
        return {key: value for key, value in data.items() if key in wanted}

    # collections -------------------------------------------------------------------------------

    def pagination(
        self, endpoint: str, params: dict[str, str], page: int, per_page: int, entries: int
    ) -> dict[str, Any]:
        pages = math.ceil(entries / per_page) if entries else 0
        prefix = f"{self.origin}/api/api/v2" if self.quirks.doubled_api_prefix else self.api

        def page_url(number: int) -> str:
            query = {**params, "page": str(number)}
            return f"{prefix}/{endpoint}?{urlencode(query)}"

        next_page = page + 1 if page < pages else None
        previous_page = page - 1 if page > 1 else None
        return {
            "entries": entries,
            "page": page,
            "per_page": per_page,
            "pages": pages,
            "next_page": self._null(next_page),
            "next_page_url": self._null(page_url(next_page) if next_page else None),
            "previous_page": self._null(previous_page),
            "previous_page_url": self._null(page_url(previous_page) if previous_page else None),
        }
