"""An error body that echoes a secret goes no further (issue 16, #10).

Some servers put the bearer token they were sent into their error answer. Whatever is derived
from such a body (the stored ``last_sync_error``, an exception's ``str``/``repr``/``args``/
``body``, its pickle, the log) must carry none of the link's secrets.
"""

from __future__ import annotations

import logging
import pickle
import re
import secrets as real_secrets

import pytest
import responses

from django_seeclickfix import sync
from django_seeclickfix.client import OAuthClient
from django_seeclickfix.conf import app_settings
from django_seeclickfix.exceptions import SeeClickFixError
from django_seeclickfix.models import SeeClickFixAccount

pytestmark = pytest.mark.django_db

ACCESS = f"SNTNL-access-{real_secrets.token_hex(8)}"
REFRESH = f"SNTNL-refresh-{real_secrets.token_hex(8)}"
CLIENT_SECRET = f"SNTNL-client-{real_secrets.token_hex(8)}"
ALL = (ACCESS, REFRESH, CLIENT_SECRET)


def echo_body(*secrets: str) -> dict:
    said = " ".join(secrets)
    return {
        "message": f"Bad request, you sent {said}",
        "errors": {"request": [f"rejected {said}"], said: said},
        "echo": {"authorization": f"Bearer {said}", "list": [said]},
    }


def leaks(text: str) -> list[str]:
    return [secret for secret in ALL if secret in text]


def everything_about(error: BaseException) -> str:
    return "\n".join(
        [
            str(error),
            repr(error),
            repr(error.args),
            repr(getattr(error, "body", None)),
            repr(getattr(error, "errors", None)),
            pickle.dumps(error).decode("latin-1"),
        ]
    )


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 500])
def test_an_api_error_echoing_the_tokens_stores_and_raises_none(status, ada, caplog):
    account = SeeClickFixAccount.objects.create(
        user=ada,
        user_scf_id=1001,
        environment=app_settings.ENVIRONMENT,
        access_token=ACCESS,
        refresh_token=REFRESH,
    )
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            re.compile(re.escape(app_settings.base_url) + ".*"),
            json=echo_body(ACCESS, REFRESH),
            status=status,
        )
        with pytest.raises(SeeClickFixError) as raised:
            sync.run_sync(account.pk)
    account.refresh_from_db()
    assert account.last_sync_error  # the failure is recorded…
    assert leaks(account.last_sync_error) == []  # …without the tokens
    assert leaks(everything_about(raised.value)) == []
    assert leaks(caplog.text) == []


@pytest.mark.parametrize("status", [400, 401, 403])
def test_an_oauth_error_echoing_the_secrets_raises_none(status):
    oauth = OAuthClient(app_settings.base_url, "app-id", CLIENT_SECRET)
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST,
            oauth.token_url,
            json={"error": "invalid_request", **echo_body(REFRESH, CLIENT_SECRET)},
            status=status,
        )
        with pytest.raises(SeeClickFixError) as raised:
            oauth.refresh(REFRESH)
    assert leaks(everything_about(raised.value)) == []
