"""``manage.py seeclickfix_check --live-contract`` against the emulator: the site's own
service account and OAuth app, the read-only contracts, the report, the exit status."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from django_seeclickfix.testing.contracts import select


@pytest.fixture
def site(scf_emulator_settings, settings):
    """The site pointed at the emulator, its service account the demo official's personal
    access token."""
    token = scf_emulator_settings.personal_access_token("official")
    settings.SEECLICKFIX = {
        **settings.SEECLICKFIX,
        "SERVICE_ACCOUNT": {"TOKEN": token},
        "RATE_LIMIT_REQUESTS": 1000,
    }
    cache.clear()
    yield scf_emulator_settings, token
    cache.clear()


def check(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command("seeclickfix_check", "--live-contract", *args, stdout=out, stderr=err)
    except CommandError as failed:
        return out.getvalue(), err.getvalue(), failed
    return out.getvalue(), err.getvalue(), None


@pytest.mark.django_db
def test_every_read_contract_holds_against_the_emulator(site):
    emulator, token = site
    out, err, failed = check()
    assert failed is None, out
    read = select(tags={"read"})
    runnable = [c for c in read if "control" not in c.needs]
    assert (
        f"Contracts: {len(runnable)} held, 0 did not hold, {len(read) - len(runnable)} not run"
        in out
    )
    assert "- held: `issues.page_past_cap`:" in out
    assert "`errors.rate_limited`: needs control of the server" in out
    # The site's own credentials went out: the service account's token and the OAuth app.
    assert emulator.requests("/api/v2/profile/issues")[0].auth == "bearer"
    assert emulator.counters.get("oauth.token.authorization_code.error", 0) >= 1
    assert token not in out + err
    assert "scf-emulator-code-secret" not in out + err


@pytest.mark.django_db
def test_a_guess_that_does_not_hold_is_reported_without_failing(site):
    emulator, _ = site
    emulator.configure(page_cap_answer="404")
    out, err, failed = check()
    assert failed is None
    assert "- DID NOT HOLD: `issues.page_past_cap`:" in out
    assert "Observed: page 26 answered 404" in out
    assert "issues.page_past_cap" in err


@pytest.mark.django_db
def test_a_broken_contract_fails_the_command_and_no_secret_is_printed(site):
    emulator, token = site
    # /profile/issues answers with the token in its body: the report must not repeat it.
    emulator.faults.add(r"/profile/issues$", "status", status=500, body=f"echo {token}")
    out, err, failed = check()
    assert failed is not None
    assert "profile_issues.listing" in str(failed)
    assert "Contracts that did not hold:" in out
    assert "echo [redacted]" in out
    assert token not in out + err + str(failed)


@pytest.mark.django_db
def test_without_a_service_account_the_signed_in_contracts_are_not_run(site, settings):
    settings.SEECLICKFIX = {**settings.SEECLICKFIX, "SERVICE_ACCOUNT": None}
    out, _, failed = check()
    assert failed is None, out
    assert "`profile.signed_in`: needs a signed-in user's credentials" in out
