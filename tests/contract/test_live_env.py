"""Reading the live test host's variables: the gates, the defaults, the credentials."""

from __future__ import annotations

import pytest

from django_seeclickfix.testing.contracts import live

TOKEN = "cp-abc/def-ghi"


def test_the_gates():
    assert not live.gate({}).enabled
    assert "SEECLICKFIX_LIVE_TESTS is not 1" in live.gate({"SEECLICKFIX_LIVE_TESTS": "yes"}).reason
    read_only = live.gate({"SEECLICKFIX_LIVE_TESTS": "1"})
    assert (read_only.enabled, read_only.writable) == (True, False)
    assert "SEECLICKFIX_LIVE_WRITE=1" in read_only.reason
    both = live.gate({"SEECLICKFIX_LIVE_TESTS": "1", "SEECLICKFIX_LIVE_WRITE": "1"})
    assert (both.enabled, both.writable) == (True, True)


def test_a_bare_environment_is_the_test_host_anonymously():
    target = live.live_target({"SEECLICKFIX_LIVE_TESTS": "1"})
    assert target.base_url == "https://test.seeclickfix.com"
    assert target.capabilities == frozenset()
    assert target.session.headers["User-Agent"].startswith("django-seeclickfix")


def test_credentials_become_capabilities_and_stay_hidden():
    target = live.live_target(
        {
            "SEECLICKFIX_LIVE_TESTS": "1",
            "SEECLICKFIX_LIVE_WRITE": "1",
            "SEECLICKFIX_LIVE_BASE_URL": "http://127.0.0.1:8001/",
            "SEECLICKFIX_LIVE_TOKEN": f" {TOKEN} ",
            "SEECLICKFIX_LIVE_CLIENT_ID": "app",
            "SEECLICKFIX_LIVE_CLIENT_SECRET": "app-secret",
            "SEECLICKFIX_LIVE_ISSUE_ID": "10000001",
            "SEECLICKFIX_LIVE_RATE": "5/10",
        }
    )
    assert target.base_url == "http://127.0.0.1:8001"
    assert target.capabilities == {"user", "bearer", "client", "write"}
    assert target.authorization == f"Bearer {TOKEN}"
    assert target.issue_id == 10000001
    assert (target.gate.requests, target.gate.period) == (5, 10.0)  # type: ignore[attr-defined]
    assert target.redact(f"sent {TOKEN} and app-secret") == "sent [redacted] and [redacted]"
    assert TOKEN not in repr(target)


def test_a_bad_issue_id_says_which_variable():
    with pytest.raises(ValueError, match="SEECLICKFIX_LIVE_ISSUE_ID"):
        live.live_target({"SEECLICKFIX_LIVE_ISSUE_ID": "my issue"})
