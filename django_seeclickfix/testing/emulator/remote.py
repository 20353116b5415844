"""``RemoteEmulator``: the same controls as ``Emulator``, over the ``/_emulator`` HTTP API.

For code that runs in another process than the emulator: a Celery worker under test, a
benchmark driver, the example project. Return values are JSON (dicts), except
``issue_token`` which returns an ``IssuedToken`` like the in-process API.
"""

from __future__ import annotations

from typing import Any

from .models import CODE_APP_ID
from .oauth import IssuedToken


class RemoteError(RuntimeError):
    pass


class _RemoteFaults:
    def __init__(self, remote: RemoteEmulator) -> None:
        self._remote = remote

    def add(
        self,
        path: str,
        kind: str,
        *,
        count: int | None = None,
        method: str | None = None,
        after_processing: bool = False,
        probability: float | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        body = {
            "path": path,
            "kind": kind,
            "count": count,
            "method": method,
            "after_processing": after_processing,
            "probability": probability,
            "params": params,
        }
        return dict(self._remote.call("POST", "/faults", body))

    def clear(self) -> None:
        self._remote.call("DELETE", "/faults")

    def remove(self, fault_id: int) -> None:
        self._remote.call("DELETE", f"/faults/{fault_id}")

    def list(self) -> list[dict[str, Any]]:
        return list(self._remote.call("GET", "/faults")["faults"])


class RemoteEmulator:
    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        import requests  # deferred: the emulator server needs only the standard library

        self.url = url.rstrip("/")
        self.api_url = f"{self.url}/api/v2"
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "django-seeclickfix-emulator-control"
        self.faults = _RemoteFaults(self)

    def __repr__(self) -> str:
        return f"<RemoteEmulator {self.url}>"

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        response = self._session.request(
            method,
            f"{self.url}/_emulator{path}",
            json=body,
            params=params,
            headers=headers,
            timeout=self.timeout,
        )
        if response.status_code != 200:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text[:200]
            raise RemoteError(f"{method} /_emulator{path} → {response.status_code}: {detail}")
        return response.json()

    def close(self) -> None:
        self._session.close()

    # the Emulator's controls -------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return dict(self.call("GET", "/state"))

    def reset(self, seed: str | None = None) -> None:
        self.call("POST", "/reset", {"seed": seed} if seed else {})

    def register_app(
        self, client_id: str, secret: str | None, redirect_uris: list[str], **options: Any
    ) -> dict[str, Any]:
        body = {"client_id": client_id, "secret": secret, "redirect_uris": redirect_uris}
        return dict(self.call("POST", "/apps", {**body, **options}))

    def add_redirect_uri(self, uri: str, client_id: str = CODE_APP_ID) -> None:
        self.call("POST", "/apps/redirect_uris", {"uri": uri, "client_id": client_id})

    def add_user(self, name: str, email: str, password: str = "password", **fields: Any) -> Any:
        return self.call(
            "POST", "/users", {"name": name, "email": email, "password": password, **fields}
        )

    def generate_users(self, count: int, *, prefix: str = "user") -> list[dict[str, Any]]:
        return list(
            self.call("POST", "/users/generate", {"count": count, "prefix": prefix})["users"]
        )

    def add_issue(self, reporter: int | str, **fields: Any) -> dict[str, Any]:
        return dict(self.call("POST", "/issues", {"reporter": reporter, **_iso(fields)}))

    def generate_issues(self, reporter: int | str, count: int, **options: Any) -> list[int]:
        body = {"reporter": reporter, "count": count, **_iso(options)}
        return list(self.call("POST", "/issues/generate", body)["ids"])

    def issue_json(self, issue_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/issues/{issue_id}"))

    def update_issue(self, issue_id: int, **changes: Any) -> dict[str, Any]:
        return dict(self.call("PATCH", f"/issues/{issue_id}", _iso(changes)))

    def delete_issue(self, issue_id: int) -> None:
        self.call("DELETE", f"/issues/{issue_id}")

    def add_comment(self, issue_id: int, user: int | str, text: str) -> None:
        self.call("POST", f"/issues/{issue_id}/comments", {"user": user, "comment": text})

    def issue_token(self, user: int | str, client_id: str = CODE_APP_ID) -> IssuedToken:
        data = self.call("POST", "/tokens", {"user": user, "client_id": client_id})
        return _issued(data)

    def issue_tokens(
        self, users: list[int | str], client_id: str = CODE_APP_ID
    ) -> list[IssuedToken]:
        data = self.call("POST", "/tokens/bulk", {"users": users, "client_id": client_id})
        return [_issued(t) for t in data["tokens"]]

    def issue_code(self, user: int | str, client_id: str = CODE_APP_ID, **options: Any) -> str:
        return str(
            self.call("POST", "/codes", {"user": user, "client_id": client_id, **options})["code"]
        )

    def personal_access_token(self, user: int | str, **options: Any) -> str:
        return str(self.call("POST", "/personal_access_tokens", {"user": user, **options})["token"])

    def token_state(self, token: str) -> str:
        return str(self.call("GET", "/tokens/state", headers={"X-Token": token})["state"])

    def revoke(self, token: str) -> bool:
        return bool(self.call("POST", "/revoke", {"token": token})["revoked"])

    def deauthorize(self, user: int | str, client_id: str = CODE_APP_ID) -> int:
        return int(
            self.call("POST", "/deauthorize", {"user": user, "client_id": client_id})["revoked"]
        )

    def advance(self, seconds: float) -> None:
        self.call("POST", "/clock/advance", {"seconds": seconds})

    def set_rate_limit(
        self,
        requests: int | None,
        period: float = 60.0,
        scope: str = "address",
        abuse_after: int | None = None,
    ) -> None:
        body = {"requests": requests, "period": period, "scope": scope, "abuse_after": abuse_after}
        self.call("PUT", "/rate_limit", body)

    def configure(self, **changes: Any) -> dict[str, Any]:
        return dict(self.call("PUT", "/behaviour", changes))

    def requests(
        self, path: str | None = None, *, method: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        params = {"path": path or "", "method": method or "", "since": since}
        return list(self.call("GET", "/log", params=params)["requests"])

    def clear_log(self) -> None:
        self.call("DELETE", "/log")

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.call("GET", "/counters")["counters"])

    def token_requests(self, grant_type: str | None = None) -> int:
        key = "oauth.token" if grant_type is None else f"oauth.token.{grant_type}"
        return int(self.counters.get(key, 0))


def _iso(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in fields.items()}


def _issued(data: dict[str, Any]) -> IssuedToken:
    return IssuedToken(
        access_token=data["access_token"],
        token_type=data["token_type"],
        expires_in=data.get("expires_in"),
        refresh_token=data.get("refresh_token"),
        created_at=int(data["created_at"]),
        scope=data.get("scope", ""),
        token_id=int(data.get("token_id", 0)),
    )
