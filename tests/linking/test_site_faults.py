"""Misconfiguration is not an outage (issue 16, #6): a sign-in that fails because of the site's
own setup or its cache tells the operators at ERROR, naming the cause and the setting, and tells
the user without promising a retry; what a retry may fix keeps "try again"."""

from __future__ import annotations

import logging

import pytest
import responses
from allauth.socialaccount.models import SocialApp
from django.contrib.sites.models import Site
from django.test import override_settings

from django_seeclickfix.allauth_provider import flow
from django_seeclickfix.errorcodes import E_CONFIGURATION, E_SITE, E_TOKEN, message_for
from django_seeclickfix.exceptions import (
    OAuthError,
    ReauthRequired,
    SiteCacheUnavailable,
    TransientError,
)
from django_seeclickfix.models import SeeClickFixAccount
from django_seeclickfix.site_faults import app_setting, classify

from .conftest import (
    INFO_URL,
    PROFILE_URL,
    SECRET,
    TOKEN_URL,
    callback,
    calls_to,
    mock_scf,
    profile_body,
    provider_apps,
    scf_settings,
    start,
)

pytestmark = pytest.mark.django_db

SITE_LOGGER = "django_seeclickfix.site_faults"
APPS_SETTING = 'SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]'


def page_text(response) -> str:
    return response.content.decode()


def errors_logged(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SITE_LOGGER and r.levelno == logging.ERROR]


def assert_no_secret_logged(caplog, *secrets: str) -> None:
    for record in caplog.records:
        for secret in secrets:
            assert secret not in record.getMessage()


def assert_promises_no_retry(response) -> None:
    text = page_text(response).lower()
    assert "try again" not in text
    assert "in a moment" not in text


# --- the token endpoint's answers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "setting"),
    [
        (401, "invalid_client", APPS_SETTING),
        (400, "unauthorized_client", 'SEECLICKFIX["FLOW"]'),
        (400, "unsupported_grant_type", 'SEECLICKFIX["FLOW"]'),
        (400, "invalid_scope", 'SOCIALACCOUNT_PROVIDERS["seeclickfix"]["SCOPE"]'),
        (400, "invalid_request", 'SEECLICKFIX["BASE_URL"]'),
    ],
)
def test_a_permanent_token_error_is_logged_for_the_operator(
    client, ada, mocked, caplog, status, error, setting
):
    client.force_login(ada)
    mock_scf(mocked, token={"error": error, "error_description": "nope"}, token_status=status)
    _, params = start(client)
    with caplog.at_level(logging.INFO):
        response = callback(client, params["state"])
    assert response.status_code == 400
    assert str(message_for(E_CONFIGURATION)) in page_text(response).replace("&#x27;", "'")
    assert_promises_no_retry(response)
    (record,) = errors_logged(caplog)
    assert error in record.getMessage()
    assert setting in record.getMessage()
    assert record.seeclickfix_cause == error
    assert_no_secret_logged(caplog, SECRET, "the-code")
    assert not calls_to(mocked, PROFILE_URL)
    assert not SeeClickFixAccount.objects.exists()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_grant", "error_description": "code expired"}),
        (500, {"error": "boom"}),
        (503, "Service Unavailable"),
        (400, {"error": "temporarily_unavailable"}),
        (200, {"token_type": "Bearer"}),
    ],
    ids=["invalid_grant", "500", "503", "temporarily_unavailable", "no-token"],
)
def test_what_a_retry_may_fix_keeps_try_again(client, ada, mocked, caplog, status, body):
    client.force_login(ada)
    mock_scf(mocked, token=body, token_status=status)
    _, params = start(client)
    with caplog.at_level(logging.INFO):
        response = callback(client, params["state"])
    assert response.status_code == 400
    assert "Please try again in a moment." in page_text(response)
    assert not errors_logged(caplog)
    (line,) = [r.getMessage() for r in caplog.records if "token request failed" in r.getMessage()]
    # The line says what came back: the status of a failure, the code of a refusal.
    said = body.get("error") if isinstance(body, dict) and status < 500 else None
    assert (said or f"status {status}") in line


def test_the_operator_is_pointed_at_the_socialapp_row_when_there_is_one(
    client, ada, mocked, caplog
):
    row = SocialApp.objects.create(
        provider="seeclickfix", name="Civic site", client_id="row-client", secret="row-secret"
    )
    row.sites.add(Site.objects.get_current())
    client.force_login(ada)
    mock_scf(mocked, token={"error": "invalid_client"}, token_status=401)
    with override_settings(SOCIALACCOUNT_PROVIDERS={"seeclickfix": {}}):
        _, params = start(client)
        with caplog.at_level(logging.ERROR):
            callback(client, params["state"])
    (record,) = errors_logged(caplog)
    assert f'SocialApp "Civic site" (id {row.pk}' in record.getMessage()
    assert_no_secret_logged(caplog, "row-secret")


# --- the site's own cache ----------------------------------------------------------------------


BROKEN_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "budget": {"BACKEND": "tests.linking.broken_cache.BrokenCache"},
}


def test_a_broken_cache_is_the_sites_fault_not_seeclickfixs(client, ada, mocked, caplog):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    with (
        override_settings(CACHES=BROKEN_CACHES),
        scf_settings(RATE_LIMIT_CACHE="budget"),
        caplog.at_level(logging.INFO),
    ):
        response = callback(client, params["state"])
    assert response.status_code == 503
    text = page_text(response).replace("&#x27;", "'")
    assert str(message_for(E_SITE)) in text
    assert "not at SeeClickFix" in text
    assert "SeeClickFix did not" not in text
    assert_promises_no_retry(response)
    (record,) = errors_logged(caplog)
    assert 'CACHES["budget"]' in record.getMessage()
    assert record.seeclickfix_cause == "cache"
    assert not calls_to(mocked, TOKEN_URL)  # nothing left unmetered
    assert_no_secret_logged(caplog, SECRET, "the-code")
    assert not SeeClickFixAccount.objects.exists()


def test_a_cache_failing_after_the_token_exchange_is_the_sites_fault_too(
    client, ada, mocked, caplog, monkeypatch
):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)

    def down(access_token):
        raise SiteCacheUnavailable("The rate budget's cache is unavailable", alias="budget")

    monkeypatch.setattr(flow, "fetch_profile", down)
    with caplog.at_level(logging.INFO):
        response = callback(client, params["state"])
    assert response.status_code == 503
    assert "not at SeeClickFix" in page_text(response)
    assert "did not confirm who you are" not in page_text(response)
    (record,) = errors_logged(caplog)
    assert "during GET /profile" in record.getMessage()
    assert 'CACHES["budget"]' in record.getMessage()


# --- the implicit flow's token info ------------------------------------------------------------


def relay_post(client, **fields):
    return client.post("/accounts/seeclickfix/login/relay/", fields)


@pytest.mark.parametrize(
    "info", [{"status": 404}, {"json": {"resource_owner_id": 1001}}], ids=["404", "no-app"]
)
def test_token_info_that_can_never_prove_the_app_is_a_misconfiguration(
    client, ada, mocked, caplog, info
):
    client.force_login(ada)
    mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    mocked.add(responses.GET, INFO_URL, **info)
    with provider_apps(secret=""):
        _, params = start(client)
        with caplog.at_level(logging.INFO):
            response = relay_post(client, state=params["state"], access_token="implicit-at")
    assert response.status_code == 400
    assert_promises_no_retry(response)
    (record,) = errors_logged(caplog)
    assert 'SEECLICKFIX["IMPLICIT_AUDIENCE_CHECK"]' in record.getMessage()
    assert_no_secret_logged(caplog, "implicit-at")
    assert not SeeClickFixAccount.objects.exists()


def test_token_info_down_is_still_worth_a_retry(client, ada, mocked, caplog):
    client.force_login(ada)
    mocked.add(responses.GET, INFO_URL, status=503)
    with provider_apps(secret=""):
        _, params = start(client)
        with caplog.at_level(logging.INFO):
            response = relay_post(client, state=params["state"], access_token="implicit-at")
    assert "Please try again in a moment." in page_text(response)
    assert not errors_logged(caplog)


# --- the classification itself -----------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ReauthRequired("code expired"),
        TransientError("503", status=503),
        OAuthError("odd", error="temporarily_unavailable", status=400),
        OAuthError("junk", error="invalid_response", status=200),
    ],
)
def test_errors_a_retry_may_fix_are_not_site_faults(error):
    assert classify(error) is None


def test_site_faults_say_what_the_user_reads():
    assert classify(SiteCacheUnavailable("down", alias="budget")).code == E_SITE
    invalid = classify(OAuthError("x", error="invalid_client", status=401))
    assert invalid.code == E_CONFIGURATION
    assert APPS_SETTING in invalid.setting
    assert message_for(E_TOKEN) != message_for(E_CONFIGURATION)


def test_app_setting_names_a_row_without_its_secret():
    row = SocialApp(pk=7, provider="seeclickfix", name="Civic", client_id="c", secret="s3cret")
    assert "id 7" in app_setting(row)
    assert "s3cret" not in app_setting(row)
