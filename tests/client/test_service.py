"""service_client() and the seeclickfix_check command."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from urllib.parse import parse_qsl

import pytest
import responses
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from django_seeclickfix.client import BasicAuth, BearerAuth, service_client
from django_seeclickfix.management.commands.seeclickfix_check import token_expiry

from .conftest import API, BASE, TOKEN, sample


@pytest.fixture
def service(settings):
    def configure(**account):
        settings.SEECLICKFIX = {
            **settings.SEECLICKFIX,
            "ENVIRONMENT": "emulator",
            "BASE_URL": BASE,
            "SERVICE_ACCOUNT": account or None,
        }

    return configure


def run_check(*args, part="--service-account"):
    out, err = StringIO(), StringIO()
    call_command("seeclickfix_check", *args, *([part] if part else []), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_service_client_prefers_the_personal_access_token(service):
    service(TOKEN=TOKEN, EMAIL="api@city.gov", PASSWORD="pw", ORGANIZATION_ID=42)
    client = service_client()
    assert isinstance(client.auth, BearerAuth)
    assert client.organization_id == 42
    assert client.api_url == API


def test_service_client_with_legacy_basic(service):
    service(EMAIL="api@city.gov", PASSWORD="pw")
    assert isinstance(service_client().auth, BasicAuth)


def test_service_client_needs_the_setting(service):
    service()
    with pytest.raises(ImproperlyConfigured, match="SERVICE_ACCOUNT"):
        service_client()


def test_organisation_listing_uses_the_configured_id(service, rsps):
    service(TOKEN=TOKEN, ORGANIZATION_ID=42)
    rsps.get(f"{API}/organizations/42/issues", json={"issues": [], "metadata": {}})
    assert list(service_client().iter_organization_issues(status="open")) == []
    service(TOKEN=TOKEN)
    with pytest.raises(ValueError, match="organisation id"):
        list(service_client().iter_organization_issues())


def test_check_prints_who_and_where(service, rsps):
    soon = (datetime.now(UTC) + timedelta(days=200)).date()
    service(TOKEN=TOKEN, ORGANIZATION_ID=7, TOKEN_EXPIRES=soon)
    rsps.get(f"{API}/profile", json=sample("profile_logged_in"))
    out, err = run_check()
    assert "Signed in to SeeClickFix as captainkickstand (user id 1)." in out
    assert f"Environment: emulator ({BASE})" in out
    assert "personal access token" in out
    assert "Organisation id: 7" in out
    assert "in 199 days" in out or "in 200 days" in out
    assert err == ""
    assert TOKEN not in out


def test_check_warns_when_the_token_expires_soon(service, rsps):
    soon = (datetime.now(UTC) + timedelta(days=10, hours=1)).isoformat()
    service(TOKEN=TOKEN, TOKEN_EXPIRES=soon)
    rsps.get(f"{API}/profile", json=sample("profile_logged_in"))
    _, err = run_check()
    assert "expires on" in err
    assert "in 10 days" in err
    _, quiet = run_check("--warn-days", "5")
    assert quiet == ""


def test_check_notes_a_passed_or_unknown_expiry(service, rsps):
    rsps.get(f"{API}/profile", json=sample("profile_logged_in"))
    service(TOKEN=TOKEN, TOKEN_EXPIRES="2020-01-01")
    _, err = run_check()
    assert "has passed" in err
    service(TOKEN=TOKEN)
    out, _ = run_check()
    assert "Token expiry unknown" in out
    service(EMAIL="api@city.gov", PASSWORD="pw")
    out, _ = run_check()
    assert "HTTP Basic as api@city.gov" in out
    assert "expiry" not in out


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"status": 401, "json": {"error": "invalid_token"}}, "refused the service account"),
        ({"json": {"id": None}}, "refused the service account"),
        ({"status": 429, "headers": {"Retry-After": "30"}}, "try again in 30 seconds"),
        ({"status": 503}, "Could not reach SeeClickFix"),
    ],
)
def test_check_fails_clearly(service, rsps, reply, message):
    service(TOKEN=TOKEN)
    rsps.get(f"{API}/profile", **reply)
    with pytest.raises(CommandError, match=message) as caught:
        run_check()
    assert TOKEN not in str(caught.value)


def test_check_without_a_service_account(service):
    service()
    with pytest.raises(CommandError, match="SERVICE_ACCOUNT"):
        run_check()


# --- the OAuth app's credentials ----------------------------------------------------------------

TOKEN_URL = f"{BASE}/oauth/token"
APP_SECRET = "test-client-secret"  # tests/settings.py
APPS_SETTING = 'SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]'


def token_answer(rsps, status, error):
    """A mocked token endpoint; returns the forms it received (the client scrubs its own copy
    of a request's secrets afterwards)."""
    forms = []

    def answer(request):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        forms.append(dict(parse_qsl(body)))
        return status, {}, json.dumps({"error": error, "error_description": "said"})

    rsps.add_callback(responses.POST, TOKEN_URL, callback=answer, content_type="application/json")
    return forms


@pytest.mark.django_db
def test_check_accepts_the_right_oauth_credentials_without_a_grant(service, rsps):
    service()
    forms = token_answer(rsps, 400, "invalid_grant")
    out, err = run_check(part="--oauth-app")
    assert "accepted the client id test-client-id and its secret" in out
    assert APP_SECRET not in out + err
    (form,) = forms
    assert form["grant_type"] == "authorization_code"
    assert form["code"].startswith("seeclickfix-check-")  # a code nobody issued
    assert form["client_secret"] == APP_SECRET
    assert form["redirect_uri"] == "http://testserver/accounts/seeclickfix/login/callback/"


@pytest.mark.django_db
def test_check_reports_wrong_oauth_credentials(service, rsps):
    service()
    token_answer(rsps, 401, "invalid_client")
    with pytest.raises(CommandError) as caught:
        run_check(part="--oauth-app")
    said = str(caught.value)
    assert "wrong (invalid_client)" in said
    assert APPS_SETTING in said
    assert APP_SECRET not in said


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "names"), [("unauthorized_client", 'SEECLICKFIX["FLOW"]'), ("odd_code", "said")]
)
@pytest.mark.django_db
def test_check_reports_other_refusals_with_their_code(service, rsps, error, names):
    service()
    token_answer(rsps, 400, error)
    with pytest.raises(CommandError, match=error) as caught:
        run_check(part="--oauth-app")
    assert names in str(caught.value)


@pytest.mark.django_db
def test_check_says_the_credentials_check_does_not_apply_to_an_implicit_app(
    service, rsps, settings
):
    service()
    settings.SOCIALACCOUNT_PROVIDERS = {
        "seeclickfix": {"APPS": [{"client_id": "id-only", "secret": ""}]}
    }
    out, _ = run_check(part=None)  # and no service account: still a pass
    assert "implicit flow" in out
    assert "does not apply" in out
    assert not rsps.calls


@pytest.mark.django_db
def test_check_with_nothing_configured_fails(service, settings):
    service()
    settings.SOCIALACCOUNT_PROVIDERS = {"seeclickfix": {}}
    with pytest.raises(CommandError, match="Nothing to check"):
        run_check(part=None)
    with pytest.raises(CommandError, match="OAuth app: none is configured"):
        run_check(part="--oauth-app")


@pytest.mark.django_db
def test_check_runs_every_configured_part_and_reports_every_failure(service, rsps):
    service(TOKEN=TOKEN)
    token_answer(rsps, 401, "invalid_client")
    rsps.get(f"{API}/profile", json=sample("profile_logged_in"))
    out = StringIO()
    with pytest.raises(CommandError, match="invalid_client"):
        call_command("seeclickfix_check", stdout=out, stderr=StringIO())
    assert "Signed in to SeeClickFix as captainkickstand" in out.getvalue()


@pytest.mark.django_db
def test_check_skips_a_missing_service_account_by_default(service, rsps):
    service()
    token_answer(rsps, 400, "invalid_grant")
    out, _ = run_check(part=None)
    assert "accepted the client id" in out
    assert 'Service account: none is configured (SEECLICKFIX["SERVICE_ACCOUNT"]). Skipped.' in out


@pytest.mark.django_db
def test_check_cannot_reach_the_token_endpoint(service, rsps):
    service()
    rsps.post(TOKEN_URL, status=503)
    with pytest.raises(CommandError, match="Could not reach SeeClickFix"):
        run_check(part="--oauth-app")


def test_token_expiry_formats():
    assert token_expiry(date(2026, 5, 1)) == datetime(2026, 5, 1, tzinfo=UTC)
    assert token_expiry("2026-05-01") == datetime(2026, 5, 1, tzinfo=UTC)
    assert token_expiry("2026-05-01T10:00:00Z") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert token_expiry(datetime(2026, 5, 1, 9)) == datetime(2026, 5, 1, 9, tzinfo=UTC)
    assert token_expiry(None) is None
    with pytest.raises(CommandError, match="TOKEN_EXPIRES"):
        token_expiry("next spring")


@pytest.mark.integration
def test_check_against_the_emulator(scf_emulator_settings, settings):
    oscar = scf_emulator_settings.user("official")
    token = scf_emulator_settings.personal_tokens[oscar.id]
    settings.SEECLICKFIX = {**settings.SEECLICKFIX, "SERVICE_ACCOUNT": {"TOKEN": token}}
    out, _ = run_check()
    assert f"Signed in to SeeClickFix as {oscar.name} (user id {oscar.id})." in out
    assert "Can acknowledge issues: yes" in out
    scf_emulator_settings.revoke(token)
    with pytest.raises(CommandError, match="refused"):
        run_check()


@pytest.mark.integration
@pytest.mark.django_db
def test_check_of_the_oauth_app_against_the_emulator(scf_emulator_settings, settings):
    """The emulator answers a code nobody issued as Doorkeeper 5.5 does (tests/doorkeeper)."""
    assert "accepted the client id" in run_check(part="--oauth-app")[0]
    app = settings.SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"][0]
    settings.SOCIALACCOUNT_PROVIDERS = {
        "seeclickfix": {"APPS": [{**app, "secret": "not-the-secret"}]}
    }
    with pytest.raises(CommandError, match="invalid_client"):
        run_check(part="--oauth-app")
