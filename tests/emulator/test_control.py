"""The control API (``/_emulator``) through ``RemoteEmulator``, and the request log's redaction."""

from __future__ import annotations

import json

import pytest

from django_seeclickfix.testing.emulator import RemoteEmulator
from django_seeclickfix.testing.emulator.remote import RemoteError

from .conftest import CALLBACK, bearer, exchange


@pytest.fixture
def remote(scf_emulator):
    client = RemoteEmulator(scf_emulator.url)
    yield client
    client.close()


def test_state_lists_apps_users_and_settings(remote, scf_emulator):
    state = remote.describe()
    assert state["url"] == scf_emulator.url
    assert {a["client_id"] for a in state["apps"]} >= {"scf-emulator-code", "scf-emulator-implicit"}
    rita = next(u for u in state["users"] if u["email"] == "rita@example.com")
    assert rita["password"] == "rita-demo-password"
    assert rita["reported_issues"] == 30
    assert state["rate_limit"]["enabled"] is False


def test_data_controls(remote, scf_emulator, http):
    user = remote.add_user("Vic Visitor", "vic@example.com", "vic-pass", can_acknowledge=True)
    assert user["can_acknowledge"] is True
    issue = remote.add_issue(user["id"], summary="Broken bench", created_at="2024-05-01T12:00:00Z")
    assert issue["reporter_id"] == user["id"]
    changed = remote.update_issue(issue["id"], status="closed", assignee="oscar@example.com")
    assert changed["status"] == "Closed"
    assert changed["assignee_id"] == scf_emulator.user("official").id
    remote.add_comment(issue["id"], "vic@example.com", "Fixed it myself")
    shown = remote.issue_json(issue["id"])
    assert shown["comments"][0]["comment"] == "Fixed it myself"
    ids = remote.generate_issues(user["id"], 5, start="2020-01-01T00:00:00Z")
    assert len(ids) == 5
    users = remote.generate_users(2, prefix="bench")
    assert users[0]["email"].startswith("bench")
    remote.delete_issue(issue["id"])
    assert http.get(f"{scf_emulator.api_url}/issues/{issue['id']}").status_code == 404
    remote.reset()
    assert "vic@example.com" not in {u.email for u in scf_emulator.users}
    remote.reset(seed="empty")
    assert scf_emulator.seed_name == "empty"


def test_token_controls(remote, scf_emulator, http):
    issued = remote.issue_token("rita@example.com")
    assert issued.refresh_token
    assert "access_token" not in repr(issued)
    assert issued.access_token not in repr(issued)
    ok = http.get(f"{scf_emulator.api_url}/profile", headers=bearer(issued.access_token))
    assert ok.json()["email"] == "rita@example.com"
    assert remote.token_state(issued.access_token) == "active"
    assert remote.revoke(issued.access_token) is True
    assert remote.token_state(issued.access_token) == "revoked:revoked"
    many = remote.issue_tokens([scf_emulator.user("resident").id, "nora@example.com"])
    assert len({t.access_token for t in many}) == 2
    assert remote.deauthorize("nora@example.com") == 1
    pat = remote.personal_access_token("rita@example.com", expires_in=3600)
    assert http.get(f"{scf_emulator.api_url}/profile", headers=bearer(pat)).status_code == 200
    code = remote.issue_code("rita@example.com", redirect_uri=CALLBACK)
    response = exchange(http, scf_emulator, code)
    assert response.status_code == 200
    assert remote.token_requests("authorization_code") == 1
    remote.add_redirect_uri("http://localhost:41234/accounts/seeclickfix/login/callback/")
    assert scf_emulator.code_app.redirect_uris[-1].startswith("http://localhost:41234/")
    app = remote.register_app(
        "late-app", None, ["http://localhost:5555/cb/"], token_regime="no_refresh"
    )
    assert app["secret"] is None
    assert app["token_regime"] == "no_refresh"


def test_clock_limit_behaviour_and_fault_controls(remote, scf_emulator, http):
    issued = remote.issue_token("rita@example.com")
    remote.advance(7200)
    assert (
        http.get(f"{scf_emulator.api_url}/profile", headers=bearer(issued.access_token)).status_code
        == 401
    )
    remote.configure(invalid_token_behaviour="anonymous", quirks={"rating_as_string": True})
    assert scf_emulator.quirks.rating_as_string is True
    assert http.get(f"{scf_emulator.api_url}/profile", headers=bearer("x")).json() == {"id": None}
    remote.set_rate_limit(1, 30)
    assert http.get(f"{scf_emulator.api_url}/issues").status_code == 200
    assert http.get(f"{scf_emulator.api_url}/issues").status_code == 429
    remote.set_rate_limit(None)
    fault = remote.faults.add("/profile", "error", count=1, status=502)
    assert remote.faults.list()[0]["id"] == fault["id"]
    assert http.get(f"{scf_emulator.api_url}/profile").status_code == 502
    remote.faults.add("/profile", "error")
    remote.faults.remove(fault["id"])
    remote.faults.clear()
    assert remote.faults.list() == []


def test_log_and_counters(remote, scf_emulator, http):
    http.get(f"{scf_emulator.api_url}/issues", params={"per_page": 5})
    http.get(f"{scf_emulator.api_url}/profile")
    entries = remote.requests("/api/v2/issues")
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in entries] == [
        ("GET", "/api/v2/issues", {"per_page": "5"}, 200)
    ]
    since = remote.requests()[-1]["seq"]
    http.get(f"{scf_emulator.api_url}/profile")
    assert len(remote.requests(since=since)) == 1
    assert remote.counters["api.requests"] == 3
    remote.clear_log()
    assert remote.requests() == []


def test_control_errors_are_json(remote, scf_emulator, http):
    with pytest.raises(RemoteError, match="404"):
        remote.update_issue(1, status="closed")
    with pytest.raises(RemoteError, match="400"):
        remote.add_issue("rita@example.com", status="broken")
    with pytest.raises(RemoteError, match="no control endpoint"):
        remote.call("GET", "/nothing")
    bad = http.post(
        f"{scf_emulator.url}/_emulator/reset",
        data="{",
        headers={"Content-Type": "application/json"},
    )
    assert bad.status_code == 400
    assert http.post(f"{scf_emulator.url}/_emulator/reset", json=[1]).status_code == 400


def test_control_requests_are_not_logged_limited_or_faulted(remote, scf_emulator):
    scf_emulator.set_rate_limit(1, 60)
    scf_emulator.faults.add("/", "error")
    for _ in range(3):
        remote.describe()
    assert scf_emulator.requests() == []


def test_no_secret_reaches_the_log(scf_emulator, http):
    """Run every credential-bearing flow, then look for each secret in the whole log."""
    secrets = []
    code = scf_emulator.issue_code("resident", code_challenge="verifier-123")
    secrets += [code, "verifier-123", "scf-emulator-code-secret", "rita-demo-password"]
    token = exchange(http, scf_emulator, code, code_verifier="verifier-123").json()
    secrets += [token["access_token"], token["refresh_token"]]
    http.get(f"{scf_emulator.api_url}/profile", headers=bearer(token["access_token"]))
    http.get(f"{scf_emulator.api_url}/profile", params={"access_token": token["access_token"]})
    http.get(f"{scf_emulator.api_url}/profile", auth=("rita@example.com", "rita-demo-password"))
    http.post(
        f"{scf_emulator.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("scf-emulator-code", "scf-emulator-code-secret"),
    )
    http.post(
        f"{scf_emulator.url}/oauth/revoke",
        data={"token": token["access_token"]},
        auth=("scf-emulator-code", "scf-emulator-code-secret"),
    )
    scf_emulator.complete_authorization(
        f"{scf_emulator.url}/oauth/authorize?client_id=scf-emulator-code&redirect_uri={CALLBACK}"
        "&response_type=code&code_challenge=verifier-123",
        "resident",
    )
    dumped = json.dumps([e.as_dict() for e in scf_emulator.requests()])
    for secret in secrets:
        assert secret not in dumped
    grant_types = [e.grant_type for e in scf_emulator.requests("/oauth/token")]
    assert grant_types == ["authorization_code", "refresh_token"]
    assert {e.auth for e in scf_emulator.requests("/api/v2/profile")} == {"bearer", "none", "basic"}
    assert scf_emulator.requests("/oauth/token")[0].token_id is not None
