"""Helpers for the emulator's own tests: plain ``requests`` against the live ``scf_emulator``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from django_seeclickfix.testing.emulator import CODE_APP_ID, CODE_APP_SECRET

UA = "emulator-tests/1.0"
CALLBACK = "http://testserver/accounts/seeclickfix/login/callback/"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def exchange(http, emulator, grant_code: str, **extra: str) -> requests.Response:
    """Trade an authorization code at the token endpoint, as the code-flow app."""
    data = {
        "grant_type": "authorization_code",
        "code": grant_code,
        "redirect_uri": CALLBACK,
        "client_id": CODE_APP_ID,
        "client_secret": CODE_APP_SECRET,
    }
    data.update(extra)
    return http.post(f"{emulator.url}/oauth/token", data=data)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A browser-less client that sends a User-Agent, as every SeeClickFix client must."""
    session = requests.Session()
    session.headers["User-Agent"] = UA
    yield session
    session.close()


@pytest.fixture
def rita(scf_emulator):
    return scf_emulator.user("resident")


@pytest.fixture
def rita_token(scf_emulator, rita) -> str:
    return scf_emulator.issue_token(rita).access_token
