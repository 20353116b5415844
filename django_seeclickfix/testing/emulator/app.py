"""The request pipeline: routing, User-Agent rule, faults, rate limit, authentication,
conditional requests, and the request log. ``/_emulator/...`` goes to the control API instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import pages
from .api import ApiV2
from .context import Context
from .http import Request, Response, html_response, json_response, redirect
from .oauth import invalid_token_response
from .requestlog import redact
from .shapes import Shapes
from .timefmt import http_date, parse_http_date

if TYPE_CHECKING:
    from .core import Emulator

CONTROL_PREFIX = "/_emulator"
ABUSE_MESSAGE = "Request forbidden by administrative rules."
DOCS_URL = "https://dev.seeclickfix.com"
# A 1x1 grey PNG: avatars and photos resolve to something a browser can draw.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGO4DwABAQEAGYj8tAAAAABJRU5ErkJggg=="
)

RouteHandler = Callable[..., Response]


def wall_clock() -> datetime:
    """Real time, for what clients compare with their own clocks (Date, Retry-After dates).
    The emulator's movable clock drives only what happens inside it (expiry, windows)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler
    api: bool  # counts against the rate limit and takes API credentials


class Application:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        api, oauth = ApiV2(), emulator.oauth
        issue = r"/api/v2/issues/(?P<issue_id>\d+)"
        table: list[tuple[str, str, RouteHandler, bool]] = [
            ("GET", r"/api/v2/profile", api.profile, True),
            ("GET", r"/api/v2/emails", api.emails, True),
            ("GET", r"/api/v2/profile/issues", api.profile_issues, True),
            ("GET", r"/api/v2/profile/notices", api.notices, True),
            (
                "GET",
                r"/api/v2/organizations/(?P<organization_id>\d+)/issues",
                api.organization_issues,
                True,
            ),
            ("GET", r"/api/v2/issues", api.issues, True),
            ("POST", r"/api/v2/issues", api.create_issue, True),
            ("GET", r"/api/v2/issues/new", api.new_issue_options, True),
            ("GET", issue, api.issue, True),
            ("GET", issue + "/comments", api.comments, True),
            ("POST", issue + "/comments", api.add_comment, True),
            ("POST", issue + "/close", api.close, True),
            ("POST", issue + "/open", api.open, True),
            ("POST", issue + "/acknowledge", api.acknowledge, True),
            ("POST", issue + "/follow", api.follow, True),
            ("DELETE", issue + "/follow", api.follow, True),
            ("POST", issue + "/vote", api.vote, True),
            ("DELETE", issue + "/vote", api.vote, True),
            ("GET", r"/api/v2/request_types/(?P<type_id>\d+|other)", api.request_type, True),
            ("GET", r"/api/v2/users/(?P<user_id>\d+)", api.user, True),
            ("GET", r"/api/v2/places", api.places, True),
            ("GET", r"/api/v2/places/(?P<place_id>\d+)", api.place, True),
            ("GET", r"/oauth/authorize", oauth.authorize_page, False),
            ("POST", r"/oauth/authorize", oauth.authorize_decision, False),
            ("POST", r"/oauth/token", oauth.token_endpoint, False),
            ("POST", r"/oauth/revoke", oauth.revoke_endpoint, False),
            ("GET", r"/oauth/token/info", oauth.token_info, False),
            ("GET", r"/users/sign_in", oauth.sign_in_page, False),
            ("POST", r"/users/sign_in", oauth.sign_in, False),
            ("POST", r"/users/sign_out", oauth.sign_out, False),
            ("GET", r"/files/(?P<path>.+)", self.file_redirect, False),
            ("GET", r"/storage/(?P<path>.+)", self.pixel, False),
            ("GET", r"/issues/(?P<issue_id>\d+)(?:-[\w-]*)?", self.issue_page, False),
            ("GET", r"/", self.index, False),
        ]
        self.routes = [Route(m, re.compile(f"^{p}$"), h, a) for m, p, h, a in table]

    # entry point -------------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        if request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/"):
            return self.emulator.control.handle(request)
        emulator = self.emulator
        with emulator.state.lock:
            ctx = Context(
                request=request,
                state=emulator.state,
                behaviour=emulator.behaviour,
                oauth=emulator.oauth,
                log=emulator.log,
                shapes=Shapes(emulator.state, emulator.behaviour, f"http://{request.host}"),
            )
            scheme = (request.headers.get("authorization") or "").split(" ", 1)[0].lower()
            if scheme:
                ctx.auth_kind = scheme if scheme in ("bearer", "basic") else "other"
            response = self._pipeline(ctx)
            fault = ctx.notes.pop("fault", None)
            self._finish(ctx, response)
            self._log(ctx, response, fault.kind if fault is not None else None)
            return response

    def _route(self, request: Request) -> tuple[Route | None, dict[str, str], bool]:
        path_matched = False
        for route in self.routes:
            match = route.pattern.match(request.path)
            if match:
                path_matched = True
                method = "GET" if request.method == "HEAD" else request.method
                if route.method == method:
                    return route, match.groupdict(), True
        return None, {}, path_matched

    def _pipeline(self, ctx: Context) -> Response:
        request, emulator = ctx.request, self.emulator
        if emulator.behaviour.require_user_agent and not request.headers.get("user-agent"):
            ctx.log.count("rejected.no_user_agent")
            return json_response(
                {
                    "message": f"{ABUSE_MESSAGE} Please make sure your request has a "
                    "User-Agent header.",
                    "documentation_url": DOCS_URL,
                },
                status=403,
            )
        route, groups, path_known = self._route(request)
        fault = emulator.faults.take(request.method, request.path)
        if fault is not None:
            ctx.notes["fault"] = fault
            ctx.log.count(f"faults.{fault.kind}")
            if fault.replaces_answer and not fault.after_processing:
                return emulator.faults.answer(fault, wall_clock())
        if route is None:
            response = json_response({"message": "Not Found"}, status=404)
            if path_known:
                response = json_response({"message": "Method Not Allowed"}, status=405)
        elif route.api:
            response = self._api_call(ctx, route, groups)
        else:
            response = route.handler(ctx, **groups)
        if fault is not None:
            if fault.replaces_answer:
                response = emulator.faults.answer(fault, wall_clock())
            else:
                response = emulator.faults.spoil(fault, self._conditional(ctx, response))
        return response

    def _api_call(self, ctx: Context, route: Route, groups: dict[str, str]) -> Response:
        emulator, request = self.emulator, ctx.request
        if "access_token" in request.query:
            # Tokens belong in the Authorization header only; the emulator does not accept
            # them in the URL, and counts the attempt so tests can assert it never happens.
            ctx.log.count("security.token_in_query")
        key = self._limit_key(request)
        verdict = emulator.limiter.check(key, emulator.clock.time())
        if not verdict.allowed:
            ctx.notes["rate_limited"] = True
            ctx.log.count("rate_limit.refused", f"rate_limit.{verdict.status}")
            message = "Too Many Requests" if verdict.status == 429 else ABUSE_MESSAGE
            return json_response(
                {"message": message, "documentation_url": DOCS_URL},
                status=verdict.status,
                headers=[("Retry-After", str(verdict.retry_after))],
            )
        refused = self._authenticate(ctx)
        if refused is not None:
            return refused
        response = route.handler(ctx, **groups)
        response = self._conditional(ctx, response)
        if response.status == 304 and not emulator.behaviour.count_not_modified:
            emulator.limiter.refund(key)
        return response

    def _limit_key(self, request: Request) -> str:
        if self.emulator.limiter.scope == "token":
            header = request.headers.get("authorization") or ""
            if header:
                return "credentials:" + hashlib.sha256(header.encode()).hexdigest()
        return "address:" + request.client_address

    def _authenticate(self, ctx: Context) -> Response | None:
        """Resolve credentials into ``ctx.user``. A response means the request ends here."""
        header = ctx.request.headers.get("authorization") or ""
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            token, reason = ctx.oauth.authenticate_bearer(value)
            if token is not None:
                ctx.token, ctx.user = token, ctx.state.users.get(token.user_id)
                return None
            ctx.log.count("auth.invalid_token", f"auth.invalid_token.{reason}")
            behaviour = ctx.behaviour.invalid_token_behaviour
            if behaviour == "anonymous":
                return None
            return invalid_token_response(reason or "unknown", 401 if behaviour == "401" else 403)
        if scheme.lower() == "basic" and value:
            try:
                email, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                email, password = "", ""
            user = ctx.state.users_by_email.get(email.lower())
            if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
                ctx.log.count("auth.invalid_basic")
                return json_response(
                    {"message": "Invalid email or password."},
                    status=401,
                    headers=[("WWW-Authenticate", 'Basic realm="SeeClickFix"')],
                )
            ctx.user = user
        return None

    def _conditional(self, ctx: Context, response: Response) -> Response:
        """ETag / Last-Modified on successful GETs, and 304 when the client is up to date."""
        request = ctx.request
        if request.method not in ("GET", "HEAD") or response.status != 200:
            return response
        if not (response.header("Content-Type") or "").startswith("application/json"):
            return response
        if response.header("ETag"):
            return response
        etag = 'W/"' + hashlib.md5(response.body, usedforsecurity=False).hexdigest() + '"'
        changed_at = ctx.state.changed_at
        now = self.emulator.clock.time()
        # Never later than now, and a change in this very second is never hidden (see docs).
        last_modified = min(math.ceil(changed_at), math.floor(now))
        response.headers += [
            ("ETag", etag),
            ("Last-Modified", http_date(datetime.fromtimestamp(last_modified, UTC))),
        ]
        if_none_match = request.headers.get("if-none-match")
        if_modified_since = request.headers.get("if-modified-since")
        fresh = False
        if if_none_match is not None:
            candidates = {c.strip() for c in if_none_match.split(",")}
            # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
            fresh = "*" in candidates or bool(
                {etag, etag[2:]} & (candidates | {c[2:] for c in candidates if c.startswith("W/")})
            )
        elif if_modified_since is not None:
            since = parse_http_date(if_modified_since)
            fresh = since is not None and changed_at < since.timestamp()
        if fresh:
            ctx.log.count("api.not_modified")
            kept = [(k, v) for k, v in response.headers if k in ("ETag", "Last-Modified")]
            return Response(status=304, headers=kept)
        return response

    def _finish(self, ctx: Context, response: Response) -> None:
        if ctx.request.path.startswith("/api/v2") and not response.header("Cache-Control"):
            response.headers.append(("Cache-Control", "max-age=0, private, must-revalidate"))
        response.headers += [
            ("Date", http_date(wall_clock())),
            ("X-Request-Id", secrets.token_hex(8)),
        ]

    def _log(self, ctx: Context, response: Response, fault: str | None) -> None:
        request, notes = ctx.request, ctx.notes
        user = ctx.user
        ctx.log.count("requests", f"status.{response.status}")
        if request.path.startswith("/api/v2"):
            ctx.log.count("api.requests")
        ctx.log.record(
            timestamp=self.emulator.clock.time(),
            method=request.method,
            path=request.path,
            query=redact(request.query),
            auth=ctx.auth_kind,
            status=response.status,
            user_id=user.id if user else notes.get("user_id"),
            token_id=ctx.token.id if ctx.token else notes.get("token_id"),
            client_id=notes.get("client_id"),
            grant_type=notes.get("grant_type"),
            fault=fault,
            client_address=request.client_address,
            user_agent=request.headers.get("user-agent"),
        )

    # small pages -------------------------------------------------------------------------------

    def file_redirect(self, ctx: Context, path: str) -> Response:
        # Real image URLs redirect to storage; so do these.
        return redirect(f"/storage/{path}")

    def pixel(self, ctx: Context, path: str) -> Response:
        return Response(
            body=PIXEL,
            headers=[("Content-Type", "image/png"), ("Cache-Control", "public, max-age=86400")],
        )

    def issue_page(self, ctx: Context, issue_id: str) -> Response:
        issue = ctx.state.issues.get(int(issue_id))
        if issue is None or issue.pending:
            return html_response(pages.error("not_found", "No such issue."), status=404)
        return html_response(
            pages.issue_page(issue.summary, issue.status, issue.address, issue.description)
        )

    def index(self, ctx: Context) -> Response:
        return html_response(
            "<!DOCTYPE html><title>SeeClickFix emulator</title><h1>SeeClickFix emulator</h1>"
            f"<p>API: <a href='/api/v2/issues'>{ctx.origin}/api/v2</a>. "
            "Control API: <a href='/_emulator/state'>/_emulator</a>.</p>"
        )
