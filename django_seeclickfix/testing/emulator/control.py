"""The control API under ``/_emulator``: the Python controls, as JSON over HTTP, for processes
that do not hold the ``Emulator`` object (Celery workers in tests, benchmarks, the demo site).

Control requests are never logged, rate limited or faulted. The emulator binds to 127.0.0.1 by
default; this API has no authentication, like the rest of a test server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .http import Request, Response, json_response
from .models import CODE_APP_ID, Issue, User
from .state import NotFoundError
from .timefmt import parse_filter_time

if TYPE_CHECKING:
    from .core import Emulator

ControlHandler = Callable[..., Any]


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "password": user.password,
        "can_acknowledge": user.can_acknowledge,
    }


def issue_json(issue: Issue) -> dict[str, Any]:
    return {
        "id": issue.id,
        "summary": issue.summary,
        "status": issue.status,
        "reporter_id": issue.reporter_id,
        "assignee_id": issue.assignee_id,
        "lat": issue.lat,
        "lng": issue.lng,
        "created_at": issue.created_at.isoformat(),
        "updated_at": issue.updated_at.isoformat(),
    }


def _times(fields: dict[str, Any]) -> dict[str, Any]:
    """ISO strings for datetime fields become datetimes."""
    out = dict(fields)
    for name in ("created_at", "updated_at", "acknowledged_at", "closed_at", "start", "end"):
        if isinstance(out.get(name), str):
            out[name] = parse_filter_time(out[name])
    return out


def _user_ref(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


class ControlAPI:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        table: list[tuple[str, str, ControlHandler]] = [
            ("GET", r"/state", self.state),
            ("POST", r"/reset", self.reset),
            ("POST", r"/apps", self.register_app),
            ("POST", r"/apps/redirect_uris", self.add_redirect_uri),
            ("POST", r"/users", self.add_user),
            ("POST", r"/users/generate", self.generate_users),
            ("POST", r"/issues", self.add_issue),
            ("POST", r"/issues/generate", self.generate_issues),
            ("GET", r"/issues/(?P<issue_id>\d+)", self.get_issue),
            ("PATCH", r"/issues/(?P<issue_id>\d+)", self.update_issue),
            ("DELETE", r"/issues/(?P<issue_id>\d+)", self.delete_issue),
            ("POST", r"/issues/(?P<issue_id>\d+)/comments", self.add_comment),
            ("POST", r"/tokens", self.issue_token),
            ("POST", r"/tokens/bulk", self.issue_tokens),
            ("GET", r"/tokens/state", self.token_state),
            ("POST", r"/codes", self.issue_code),
            ("POST", r"/personal_access_tokens", self.personal_access_token),
            ("POST", r"/revoke", self.revoke),
            ("POST", r"/deauthorize", self.deauthorize),
            ("POST", r"/clock/advance", self.advance),
            ("PUT", r"/rate_limit", self.set_rate_limit),
            ("PUT", r"/behaviour", self.configure),
            ("GET", r"/faults", self.list_faults),
            ("POST", r"/faults", self.add_fault),
            ("DELETE", r"/faults", self.clear_faults),
            ("DELETE", r"/faults/(?P<fault_id>\d+)", self.remove_fault),
            ("GET", r"/log", self.read_log),
            ("DELETE", r"/log", self.clear_log),
            ("GET", r"/counters", self.counters),
        ]
        self.routes = [(m, re.compile(f"^/_emulator{p}/?$"), h) for m, p, h in table]

    def handle(self, request: Request) -> Response:
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                try:
                    body = request.json() if request.body else {}
                except ValueError:
                    return json_response({"error": "the body must be JSON"}, status=400)
                if not isinstance(body, dict):
                    return json_response({"error": "the body must be a JSON object"}, 400)
                try:
                    result = handler(request, body, **match.groupdict())
                except (NotFoundError, LookupError) as err:
                    return json_response({"error": str(err)}, status=404)
                except (ValueError, TypeError, KeyError) as err:
                    return json_response({"error": str(err)}, status=400)
                return json_response(result)
        return json_response({"error": f"no control endpoint {request.method} {request.path}"}, 404)

    # handlers (request, body, **groups) -> JSON-able ------------------------------------------

    def state(self, request: Request, body: dict[str, Any]) -> Any:
        return self.emulator.describe()

    def reset(self, request: Request, body: dict[str, Any]) -> Any:
        self.emulator.reset(seed=body.get("seed"))
        return {"seed": self.emulator.seed_name}

    def register_app(self, request: Request, body: dict[str, Any]) -> Any:
        return self.emulator.register_app(**body).describe()

    def add_redirect_uri(self, request: Request, body: dict[str, Any]) -> Any:
        client_id = body.get("client_id", CODE_APP_ID)
        self.emulator.add_redirect_uri(str(body["uri"]), client_id)
        return self.emulator.app(client_id).describe()

    def add_user(self, request: Request, body: dict[str, Any]) -> Any:
        return user_json(self.emulator.add_user(**_times(body)))

    def generate_users(self, request: Request, body: dict[str, Any]) -> Any:
        users = self.emulator.generate_users(int(body["count"]), prefix=body.get("prefix", "user"))
        return {"users": [user_json(u) for u in users]}

    def add_issue(self, request: Request, body: dict[str, Any]) -> Any:
        fields = _times(body)
        reporter = _user_ref(fields.pop("reporter"))
        if "assignee" in fields:
            fields["assignee"] = _user_ref(fields["assignee"])
        return issue_json(self.emulator.add_issue(reporter, **fields))

    def generate_issues(self, request: Request, body: dict[str, Any]) -> Any:
        fields = _times(body)
        issues = self.emulator.generate_issues(
            _user_ref(fields["reporter"]),
            int(fields["count"]),
            start=fields.get("start"),
            end=fields.get("end"),
            place=fields.get("place", "new-haven"),
        )
        return {"count": len(issues), "ids": [i.id for i in issues]}

    def get_issue(self, request: Request, body: dict[str, Any], issue_id: str) -> Any:
        return self.emulator.issue_json(int(issue_id))

    def update_issue(self, request: Request, body: dict[str, Any], issue_id: str) -> Any:
        changes = _times(body)
        if "assignee" in changes:
            changes["assignee"] = _user_ref(changes["assignee"])
        return issue_json(self.emulator.update_issue(int(issue_id), **changes))

    def delete_issue(self, request: Request, body: dict[str, Any], issue_id: str) -> Any:
        self.emulator.delete_issue(int(issue_id))
        return {"deleted": int(issue_id)}

    def add_comment(self, request: Request, body: dict[str, Any], issue_id: str) -> Any:
        comment = self.emulator.add_comment(
            int(issue_id), _user_ref(body["user"]), str(body["comment"])
        )
        return {"issue_id": int(issue_id), "created_at": comment.created_at.isoformat()}

    def issue_token(self, request: Request, body: dict[str, Any]) -> Any:
        issued = self.emulator.issue_token(
            _user_ref(body["user"]), body.get("client_id", CODE_APP_ID)
        )
        return {**issued.as_dict(), "token_id": issued.token_id}

    def issue_tokens(self, request: Request, body: dict[str, Any]) -> Any:
        client_id = body.get("client_id", CODE_APP_ID)
        tokens = []
        for ref in body["users"]:
            issued = self.emulator.issue_token(_user_ref(ref), client_id)
            tokens.append({**issued.as_dict(), "token_id": issued.token_id, "user": ref})
        return {"tokens": tokens}

    def token_state(self, request: Request, body: dict[str, Any]) -> Any:
        # The token travels in a header, never in the URL (logs keep URLs).
        return {"state": self.emulator.token_state(request.headers.get("x-token") or "")}

    def issue_code(self, request: Request, body: dict[str, Any]) -> Any:
        code = self.emulator.issue_code(
            _user_ref(body["user"]),
            body.get("client_id", CODE_APP_ID),
            body.get("redirect_uri"),
            code_challenge=body.get("code_challenge"),
            code_challenge_method=body.get("code_challenge_method"),
        )
        return {"code": code}

    def personal_access_token(self, request: Request, body: dict[str, Any]) -> Any:
        kwargs = {"expires_in": body["expires_in"]} if "expires_in" in body else {}
        return {"token": self.emulator.personal_access_token(_user_ref(body["user"]), **kwargs)}

    def revoke(self, request: Request, body: dict[str, Any]) -> Any:
        return {"revoked": self.emulator.revoke(str(body["token"]))}

    def deauthorize(self, request: Request, body: dict[str, Any]) -> Any:
        count = self.emulator.deauthorize(
            _user_ref(body["user"]), body.get("client_id", CODE_APP_ID)
        )
        return {"revoked": count}

    def advance(self, request: Request, body: dict[str, Any]) -> Any:
        self.emulator.advance(float(body["seconds"]))
        return {
            "clock_offset": self.emulator.clock.offset,
            "now": self.emulator.clock.now().isoformat(),
        }

    def set_rate_limit(self, request: Request, body: dict[str, Any]) -> Any:
        self.emulator.set_rate_limit(
            body.get("requests"),
            float(body.get("period", 60)),
            body.get("scope", "address"),
            body.get("abuse_after"),
        )
        return self.emulator.limiter.describe()

    def configure(self, request: Request, body: dict[str, Any]) -> Any:
        self.emulator.configure(**body)
        return self.emulator.behaviour.describe()

    def list_faults(self, request: Request, body: dict[str, Any]) -> Any:
        return {"faults": [f.describe() for f in self.emulator.faults.list()]}

    def add_fault(self, request: Request, body: dict[str, Any]) -> Any:
        spec = dict(body)
        params = dict(spec.pop("params", {}) or {})
        fault = self.emulator.faults.add(spec.pop("path"), spec.pop("kind"), **spec, **params)
        return fault.describe()

    def clear_faults(self, request: Request, body: dict[str, Any]) -> Any:
        self.emulator.faults.clear()
        return {"faults": []}

    def remove_fault(self, request: Request, body: dict[str, Any], fault_id: str) -> Any:
        self.emulator.faults.remove(int(fault_id))
        return {"removed": int(fault_id)}

    def read_log(self, request: Request, body: dict[str, Any]) -> Any:
        query = request.query
        entries = self.emulator.requests(
            query.get("path") or None,
            method=query.get("method") or None,
            since=int(query.get("since") or 0),
        )
        return {"requests": [e.as_dict() for e in entries], "last_seq": self.emulator.log.last_seq}

    def clear_log(self, request: Request, body: dict[str, Any]) -> Any:
        self.emulator.clear_log()
        return {"requests": []}

    def counters(self, request: Request, body: dict[str, Any]) -> Any:
        return {"counters": self.emulator.counters}
