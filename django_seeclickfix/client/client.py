"""``SeeClickFixClient``: one method per call of the SeeClickFix API v2, typed results.

Every request goes through :class:`ApiSession` (budget, timeouts, size cap, redirects). This module
adds the API's meaning: the ``/api/v2`` root, the invalid-token refresh-and-retry (once), error
classes, conditional listings and pagination.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ..exceptions import ReauthRequired, TransientError
from . import defaults, parsing
from .auth import ClientAuth, Credential
from .error_mapping import is_invalid_token, raise_for_status
from .etags import CacheEtagStore, EtagStore, MemoryEtagStore, etag_key
from .pagination import Fetched, items_of, walk_pages, walk_updates
from .ratelimit import Budget
from .session import ApiSession, HttpResponse
from .types import (
    Comment,
    Created,
    Email,
    Issue,
    Page,
    Profile,
    RequestType,
    User,
)

logger = logging.getLogger("django_seeclickfix.client")

API_ROOT = "/api/v2"
ALL_STATUSES = "open,acknowledged,closed,archived"
MAX_PER_PAGE = 100
MAX_PER_PAGE_WITH_DETAILS = 20

T = TypeVar("T")


def _issue_or_none(data: Any) -> Issue | None:
    if not isinstance(data, Mapping):
        return None
    issue_id = parsing.bigint(data.get("id"))
    return Issue.from_json(data, issue_id) if issue_id is not None else None


def _issue_updated_at(issue: Issue) -> datetime | None:
    return issue.updated_at


def _issue_id(issue: Issue) -> int:
    return issue.id


def _server_time(response: HttpResponse) -> datetime | None:
    """A time SeeClickFix's clock had certainly passed when it handled ``response``'s request:
    its ``Date`` header (written while answering, whole seconds) minus the round trip."""
    date = parsing.http_date(response.headers.get("Date"))
    if date is None:
        return None
    raw = response.response
    round_trip = raw.elapsed if raw is not None else timedelta(seconds=response.elapsed)
    return date - round_trip


def _filter_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return parsing.format_timestamp(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return value


class SeeClickFixClient:
    """Talks to one SeeClickFix host as one user (or anonymously with ``auth=None``).

    ``base_url`` is the host root (``https://seeclickfix.com``, ``https://test.seeclickfix.com``,
    the emulator's URL); the client adds ``/api/v2``. Arguments left as ``None`` come from
    ``SEECLICKFIX`` when Django is configured, else from the documented defaults.

    Make one per task or thread (``requests.Session`` is not guaranteed thread-safe); they are
    cheap, and the rate budget is shared through the cache anyway. ``close()`` (or ``with``)
    releases the connection pool.
    """

    def __init__(
        self,
        base_url: str,
        auth: ClientAuth | None,
        *,
        session: ApiSession | None = None,
        etag_store: EtagStore | None = None,
        per_page: int | None = None,
        organization_id: int | str | None = None,
        user_agent: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        deadline: float | None = None,
        max_bytes: int | None = None,
        budget: Budget | None = None,
        rate_limit_scope: str | None = None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be the host root, like 'https://seeclickfix.com'.")
        root = base_url.rstrip("/")
        if root.endswith(API_ROOT):
            root = root[: -len(API_ROOT)]
        self.base_url = root
        self.api_url = root + API_ROOT
        self.auth = auth
        self.session = session or ApiSession(
            user_agent=user_agent,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            deadline=deadline,
            max_bytes=max_bytes,
            budget=budget,
            rate_limit_scope=rate_limit_scope,
        )
        if etag_store is None:
            etag_store = (
                CacheEtagStore(defaults.setting("ETAG_CACHE"))
                if defaults.django_configured()
                else MemoryEtagStore()
            )
        self.etag_store = etag_store
        self.per_page = min(int(per_page or defaults.setting("PER_PAGE")), MAX_PER_PAGE)
        self.organization_id = organization_id

    def __repr__(self) -> str:
        return f"SeeClickFixClient({self.base_url!r}, {self.auth!r})"

    @property
    def requests_made(self) -> int:
        """API requests this client's rate budget has granted so far (redirect hops included):
        what a sync or a feed pass cost is the difference over its run."""
        return int(self.session.budget.stats.acquired)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> SeeClickFixClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # the core ----------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    def _send(
        self,
        method: str,
        path: str,
        credential: Credential | None,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> HttpResponse:
        return self.session.request(
            method,
            self._url(path),
            params=params,
            json_body=json_body,
            headers=headers,
            credential=credential,
        )

    @staticmethod
    def _refused(response: HttpResponse, credential: Credential | None, profile: bool) -> bool:
        if is_invalid_token(response, sent_credentials=credential is not None):
            return True
        if profile and credential is not None and response.status == 200:
            body = response.json_or_none()
            return isinstance(body, Mapping) and parsing.integer(body.get("id")) is None
        return False

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        profile_check: bool = False,
    ) -> HttpResponse:
        """One API call (``path`` below ``/api/v2``), with the single refresh-and-retry.

        Returns the response whatever its status; callers use ``raise_for_status``. Public so
        host projects can reach calls this client has no method for.
        """
        credential = self.auth.credential() if self.auth else None
        response = self._send(
            method, path, credential, params=params, json_body=json_body, headers=headers
        )
        if not self._refused(response, credential, profile_check):
            self._accepted(response, credential)
            return response
        assert self.auth is not None
        assert credential is not None
        logger.info("SeeClickFix refused the %s credential for %s", credential.scheme, path)
        replacement = self.auth.rejected(credential)
        if replacement is None:
            raise ReauthRequired(
                "SeeClickFix refused this account's credentials; the user must connect again."
            )
        response = self._send(
            method, path, replacement, params=params, json_body=json_body, headers=headers
        )
        if self._refused(response, replacement, profile_check):
            self.auth.rejected_again(replacement)
            raise ReauthRequired(
                "SeeClickFix refused this account's refreshed credentials too; the user must "
                "connect again."
            )
        self._accepted(response, replacement)
        return response

    def _accepted(self, response: HttpResponse, credential: Credential | None) -> None:
        if self.auth is not None and credential is not None and 200 <= response.status < 300:
            self.auth.accepted(credential)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        raise_for_status(response)
        return response.json()

    def _object(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        body = self._json(method, path, **kwargs)
        if not isinstance(body, Mapping):
            raise TransientError(f"SeeClickFix's answer to {method} {path} is not a JSON object.")
        return body

    def _no_content(self, method: str, path: str) -> None:
        raise_for_status(self.request(method, path))

    # conditional listing fetch ---------------------------------------------------------------

    def _fetcher(
        self, path: str, remember: list[tuple[str, str]] | None
    ) -> Callable[[dict[str, Any], bool], Fetched]:
        """A fetch function for the page walks: conditional on the first request only, or
        never when ``remember`` is ``None`` (no ETag is ever stored for that listing).

        The first page's ETag is remembered only once the whole walk has been consumed (see
        ``_remember``): a consumer that fails halfway must get the data again next time, not a
        304 for something it never stored.
        """

        def fetch(params: dict[str, Any], conditional: bool) -> Fetched:
            headers: dict[str, str] = {}
            key = None
            if conditional and remember is not None:
                identity = self.auth.etag_identity if self.auth else "anonymous"
                key = etag_key(self._url(path), params, identity)
                etag = self.etag_store.get(key)
                if etag:
                    headers["If-None-Match"] = etag
            response = self.request("GET", path, params=params, headers=headers)
            if response.status == 304:
                return Fetched(not_modified=True)
            raise_for_status(response)
            etag = response.headers.get("ETag")
            if remember is not None and key is not None and etag:
                remember.append((key, etag))
            return Fetched(
                not_modified=False, body=response.json(), server_time=_server_time(response)
            )

        return fetch

    def _remember(self, remember: list[tuple[str, str]]) -> Callable[[], None]:
        def complete() -> None:
            for key, etag in remember:
                self.etag_store.set(key, etag)

        return complete

    def _page_size(self, per_page: int | None, details: bool = False) -> int:
        size = min(int(per_page or self.per_page), MAX_PER_PAGE)
        return min(size, MAX_PER_PAGE_WITH_DETAILS) if details else size

    def _issue_pages(
        self,
        path: str,
        filters: Mapping[str, Any],
        *,
        updated_after: datetime | None,
        incremental: bool,
        per_page: int | None,
        conditional: bool,
    ) -> Iterator[Page[Issue]]:
        params = {k: _filter_value(v) for k, v in filters.items() if v is not None}
        details = str(params.get("details", "")).lower() == "true"
        params["per_page"] = self._page_size(per_page, details)
        # ETags are kept per identity, not per caller: only a caller that keeps the data (the
        # sync, the feed) may take a 304 for "nothing new"; anyone else would get an empty list.
        remember: list[tuple[str, str]] | None = [] if conditional else None
        fetch = self._fetcher(path, remember)
        on_complete = self._remember(remember) if remember is not None else None
        if incremental:
            params.update(sort="updated_at", sort_direction="ASC")
            params.setdefault("status", ALL_STATUSES)
            params.pop("updated_at_after", None)
            return walk_updates(
                fetch,
                params,
                updated_after=updated_after,
                items_key="issues",
                parse=_issue_or_none,
                updated_at=_issue_updated_at,
                identity=_issue_id,
                where=f"GET {path}",
                on_complete=on_complete,
            )
        return walk_pages(
            fetch,
            params,
            items_key="issues",
            parse=_issue_or_none,
            where=f"GET {path}",
            on_complete=on_complete,
        )

    # profile -----------------------------------------------------------------------------------

    def get_profile(self) -> Profile:
        """The signed-in user. ``{"id": null}`` (not signed in) raises ``ReauthRequired``."""
        body = self._object("GET", "/profile", profile_check=True)
        profile_id = parsing.integer(body.get("id"))
        if profile_id is None:
            raise ReauthRequired(
                "SeeClickFix does not know this client as a user (no credentials were sent)."
            )
        return Profile.from_json(body, profile_id)

    def list_emails(self) -> list[Email]:
        """The signed-in user's email addresses."""
        body = self._object("GET", "/emails")
        return [Email.from_json(item) for item in items_of(body, "emails", "GET /emails")]

    # issues ------------------------------------------------------------------------------------

    def my_issue_pages(
        self,
        updated_after: datetime | None = None,
        *,
        per_page: int | None = None,
        conditional: bool = False,
    ) -> Iterator[Page[Issue]]:
        """Pages of the issues the signed-in user reported, oldest change first.

        All four statuses; ``updated_after`` (aware datetime) is sent as ``updated_at_after`` in
        UTC with ``Z`` and is inclusive, so the boundary issue comes once more.

        ``conditional=True`` is for callers that keep what they read (the sync): the first
        request then carries the ETag of the last complete walk of this identity, and an
        unchanged listing yields one ``not_modified`` page with no items. Without it every call
        returns the data.
        """
        return self._issue_pages(
            "/profile/issues",
            {},
            updated_after=updated_after,
            incremental=True,
            per_page=per_page,
            conditional=conditional,
        )

    def iter_my_issues(self, updated_after: datetime | None = None) -> Iterator[Issue]:
        """The issues of :meth:`my_issue_pages`, one by one."""
        for page in self.my_issue_pages(updated_after):
            yield from page.items

    def issue_pages(
        self,
        *,
        updated_after: datetime | None = None,
        per_page: int | None = None,
        conditional: bool = False,
        **filters: Any,
    ) -> Iterator[Page[Issue]]:
        """Pages of ``GET /issues`` with the reference's filters (``status``, ``place_url``,
        ``min_lat``…; lists are comma-joined, datetimes sent in UTC with ``Z``).

        With ``updated_after`` the listing is incremental like :meth:`my_issue_pages`;
        ``conditional`` as there (the feed uses it).
        """
        return self._issue_pages(
            "/issues",
            filters,
            updated_after=updated_after,
            incremental=updated_after is not None,
            per_page=per_page,
            conditional=conditional,
        )

    def iter_issues(
        self, *, updated_after: datetime | None = None, **filters: Any
    ) -> Iterator[Issue]:
        for page in self.issue_pages(updated_after=updated_after, **filters):
            yield from page.items

    def organization_issue_pages(
        self,
        organization_id: int | str | None = None,
        *,
        updated_after: datetime | None = None,
        per_page: int | None = None,
        conditional: bool = False,
        **filters: Any,
    ) -> Iterator[Page[Issue]]:
        """Pages of ``/organizations/<id>/issues`` (members only; includes private issues);
        ``conditional`` as in :meth:`my_issue_pages`."""
        org = organization_id if organization_id is not None else self.organization_id
        if org is None:
            raise ValueError(
                "No organisation id: pass one, or set SEECLICKFIX['SERVICE_ACCOUNT']"
                "['ORGANIZATION_ID']."
            )
        return self._issue_pages(
            f"/organizations/{org}/issues",
            filters,
            updated_after=updated_after,
            incremental=updated_after is not None,
            per_page=per_page,
            conditional=conditional,
        )

    def iter_organization_issues(
        self, organization_id: int | str | None = None, **filters: Any
    ) -> Iterator[Issue]:
        for page in self.organization_issue_pages(organization_id, **filters):
            yield from page.items

    def get_issue(self, issue_id: int, details: bool = False) -> Issue:
        """One issue; ``details=True`` adds comments, questions, votes and your relationship."""
        params = {"details": "true"} if details else None
        body = self._object("GET", f"/issues/{int(issue_id)}", params=params)
        issue = _issue_or_none(body)
        if issue is None:
            raise TransientError(f"SeeClickFix's issue {issue_id} came back without an id.")
        return issue

    # comments and actions ----------------------------------------------------------------------

    def comment_pages(self, issue_id: int) -> Iterator[Page[Comment]]:
        path = f"/issues/{int(issue_id)}/comments"
        return walk_pages(
            self._fetcher(path, None),
            {},
            items_key="comments",
            parse=Comment.from_json,
            where=f"GET {path}",
        )

    def list_comments(self, issue_id: int) -> list[Comment]:
        """The issue's comments, oldest first (a comment may have no ``id``)."""
        return [comment for page in self.comment_pages(issue_id) for comment in page.items]

    def _comment_action(self, path: str, text: str) -> Created[Comment]:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("SeeClickFix requires a comment text for this call.")
        response = self.request("POST", path, json_body={"comment": text})
        raise_for_status(response)
        return _created(response, Comment.from_json, lambda comment: comment.id)

    def add_comment(self, issue_id: int, text: str) -> Created[Comment]:
        """Comment on an issue. ``moderated`` when SeeClickFix holds it for review (202)."""
        return self._comment_action(f"/issues/{int(issue_id)}/comments", text)

    def close_issue(self, issue_id: int, comment: str) -> Created[Comment]:
        return self._comment_action(f"/issues/{int(issue_id)}/close", comment)

    def reopen_issue(self, issue_id: int, comment: str) -> Created[Comment]:
        return self._comment_action(f"/issues/{int(issue_id)}/open", comment)

    def acknowledge_issue(self, issue_id: int, comment: str) -> Created[Comment]:
        """Officials only (``Profile.can_acknowledge``); others get ``PermissionDenied``."""
        return self._comment_action(f"/issues/{int(issue_id)}/acknowledge", comment)

    def follow(self, issue_id: int) -> None:
        self._no_content("POST", f"/issues/{int(issue_id)}/follow")

    def unfollow(self, issue_id: int) -> None:
        self._no_content("DELETE", f"/issues/{int(issue_id)}/follow")

    def vote(self, issue_id: int) -> None:
        self._no_content("POST", f"/issues/{int(issue_id)}/vote")

    def unvote(self, issue_id: int) -> None:
        self._no_content("DELETE", f"/issues/{int(issue_id)}/vote")

    # reporting ---------------------------------------------------------------------------------

    def request_types_at(self, lat: float, lng: float) -> list[RequestType]:
        """What can be reported at a spot (``GET /issues/new``)."""
        body = self._object("GET", "/issues/new", params={"lat": lat, "lng": lng})
        return [
            RequestType.from_json(item)
            for item in items_of(body, "request_types", "GET /issues/new")
        ]

    def get_request_type(self, request_type_id: int | str) -> RequestType:
        """A request type with its questions (answers go by ``Question.primary_key``)."""
        body = self._object("GET", f"/request_types/{request_type_id}")
        return RequestType.from_json(body)

    def create_issue(
        self,
        *,
        lat: float,
        lng: float,
        request_type_id: int | str,
        answers: Mapping[str, Any] | None = None,
        address: str | None = None,
        summary: str | None = None,
        description: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Created[Issue]:
        """Report an issue. Look up ``request_type_id`` with :meth:`request_types_at` and its
        questions with :meth:`get_request_type`; ``answers`` are keyed by question
        ``primary_key``. ``summary``/``description`` are for the request type ``"other"``
        (which has no questions). 422 → ``ValidationError`` with ``{field: [messages]}``."""
        body: dict[str, Any] = {
            "lat": lat,
            "lng": lng,
            "request_type_id": request_type_id,
            "answers": dict(answers or {}),
        }
        for name, value in (
            ("address", address),
            ("summary", summary),
            ("description", description),
        ):
            if value is not None:
                body[name] = value
        body.update(extra or {})
        response = self.request("POST", "/issues", json_body=body)
        raise_for_status(response)
        return _created(response, _issue_or_none, lambda issue: issue.id)

    # users -------------------------------------------------------------------------------------

    def get_user(self, user_id: int) -> User:
        """A public user; ``NotFound`` if there is none."""
        return User.from_json(self._object("GET", f"/users/{int(user_id)}"))


def _created(
    response: HttpResponse,
    parse: Callable[[Any], T | None],
    item_id: Callable[[T], int | None],
) -> Created[T]:
    body = response.json_or_none() if response.status == 202 else response.json()
    body = body if isinstance(body, Mapping) else {}
    metadata = parsing.mapping(body.get("metadata"))
    moderated = (
        response.status == 202
        or bool(parsing.boolean(metadata.get("moderated")))
        or bool(parsing.boolean(body.get("moderated")))
    )
    item = None if response.status == 202 else parse(body)
    return Created(
        id=item_id(item) if item is not None else None,
        moderated=moderated,
        item=item,
        status=response.status,
        raw=body,
    )
