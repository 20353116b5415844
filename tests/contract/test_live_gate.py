"""The live contracts' path, run against a local emulator standing in for the test host (its
URL through SEECLICKFIX_LIVE_BASE_URL, as a user would point at test.seeclickfix.com): without
the variables the live tests are deselected with the reason, with them they run, the report
ends the run, and the token is never printed, not even by a failure that echoes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from django_seeclickfix.testing.emulator import CODE_APP_ID, CODE_APP_SECRET

ROOT = Path(__file__).resolve().parents[2]
CHOSEN = [
    "live-profile.signed_in",
    "live-oauth.token_info",
    "live-profile.bad_token_401",
    "live-profile_issues.listing",
    "live-comments.create",
]


def run_pytest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEECLICKFIX_LIVE_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/contract/test_contracts.py",
            "-p",
            "no:cacheprovider",
            "-k",
            " or ".join(CHOSEN),
            # Every log line on the terminal too: a token must not be in them either.
            "-o",
            "log_cli=true",
            "--log-cli-level=DEBUG",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fake_live(scf_emulator_factory):
    """A second emulator playing the live test host: its resident's token, as a test user's
    SEECLICKFIX_LIVE_TOKEN would be."""
    host = scf_emulator_factory(rate_limit=None)
    return host, host.issue_token("resident").access_token


def test_without_the_variables_the_live_contracts_are_deselected_with_the_reason(fake_live):
    host, _ = fake_live
    run = run_pytest({"SEECLICKFIX_LIVE_BASE_URL": host.url})
    assert run.returncode == 5, run.stdout  # nothing ran: neither passed nor skipped
    assert (
        f"{len(CHOSEN)} live contract(s) deselected: SEECLICKFIX_LIVE_TESTS is not 1" in run.stdout
    )
    assert " passed" not in run.stdout
    assert "skipped" not in run.stdout
    assert host.requests() == []


def test_with_the_variables_they_run_report_and_never_print_the_token(fake_live):
    host, token = fake_live
    host.invalid_token_behaviour = "anonymous"  # a guess that will not hold
    # A broken server that echoes the credential back: the failure must not repeat it.
    host.faults.add(r"/profile/issues$", "status", status=500, body=f"echo {token}")
    run = run_pytest(
        {
            "SEECLICKFIX_LIVE_TESTS": "1",
            "SEECLICKFIX_LIVE_BASE_URL": host.url,
            "SEECLICKFIX_LIVE_TOKEN": token,
            "SEECLICKFIX_LIVE_CLIENT_ID": CODE_APP_ID,
            "SEECLICKFIX_LIVE_CLIENT_SECRET": CODE_APP_SECRET,
        }
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "2 passed" in out
    assert "2 failed" in out
    # Writing needs the second variable.
    assert "1 live contract(s) deselected: writing contracts need SEECLICKFIX_LIVE_WRITE=1" in out
    report = out.split("SeeClickFix contract report (paste into an issue)", 1)[1]
    assert f"Server: live ({host.url})" in report
    assert "- held: `oauth.token_info`:" in report
    assert "- DID NOT HOLD: `profile.bad_token_401`:" in report
    assert 'Observed: 200 {"id": null}' in report
    assert "- `profile_issues.listing`:" in report
    assert "echo [redacted]" in report
    assert "- `comments.create`: writing contracts need SEECLICKFIX_LIVE_WRITE=1" in report
    assert token not in out
    assert CODE_APP_SECRET not in out
    # It was the stand-in that answered, with the token from the environment.
    signed_in = [r for r in host.requests("/api/v2/profile") if r.auth == "bearer"]
    assert signed_in
