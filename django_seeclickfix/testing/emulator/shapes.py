"""JSON bodies in SeeClickFix's shapes: the keys and value types of the documented samples.

``Shapes`` is built per request: it knows the origin (so URLs point back at this emulator), who
is asking (``current_user_relationship``) and the quirks switched on.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from .config import Behaviour
from .models import Comment, Issue, Place, RequestType, User
from .state import State
from .timefmt import format_eastern, format_utc_z

NULL_STRING = "null"


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

    # people ------------------------------------------------------------------------------------

    def avatar(self, user: User) -> dict[str, str]:
        base = f"{self.origin}/files/user_images/{user.id}"
        return {"full": f"{base}/avatar.png", "square_100x100": f"{base}/avatar_square.png"}

    def user_brief(self, user: User) -> dict[str, Any]:
        """The person object inside issues and comments (reporter, assignee, commenter)."""
        return {
            "avatar": self.avatar(user),
            "civic_points": user.civic_points,
            "id": user.id,
            "name": user.name,
            "role": user.role,
            "witty_title": user.witty_title,
        }

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
            "home_place": user.home_place,
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
        return {
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
            "reporter": self.user_brief(self.state.users[issue.reporter_id]),
            "shortened_url": f"{self.origin}/i/{issue.id}",
            "url": url,
            "html_url": f"{self.origin}/issues/{issue.id}-{slugify(issue.summary)}",
            "media": self._issue_media(issue),
        }

    def issue_in_list(self, issue: Issue, viewer: User | None, details: bool) -> dict[str, Any]:
        url = f"{self.api}/issues/{issue.id}"
        data = self._issue_common(issue)
        data["comments_url"] = f"{url}/comments"  # the list sample's name ...
        data["flag_url"] = f"{url}/flag"
        if details:
            data.update(self._details(issue, viewer))
        return data

    def issue(self, issue: Issue, viewer: User | None, details: bool) -> dict[str, Any]:
        data = self._issue_common(issue)
        visible = self.state.visible_comments(issue)
        assignee = self.state.users.get(issue.assignee_id) if issue.assignee_id else None
        data.update(
            {
                "assignee": self.user_brief(assignee) if assignee else None,
                "comment_url": f"{self.api}/issues/{issue.id}/comments",  # ... the real one's
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
        """A comment as ``GET /issues/<id>/comments`` lists it: no ``id`` (as documented)."""
        data: dict[str, Any] = {
            "comment": comment.body,
            "commenter": self.user_brief(self.state.users[comment.commenter_id]),
            "media": self._comment_media(),
            "flag_url": f"{self.api}/issues/{issue.id}/comments/flag",
            "created_at": self.ts(comment.created_at),
            "updated_at": self.ts(comment.updated_at),
        }
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
                    "answer_kind": q.answer_kind,
                    "response_required": q.required,
                    "select_values": [{"key": c, "name": c} for c in q.choices],
                }
                for q in request_type.questions
            ],
        }

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
