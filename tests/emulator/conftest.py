"""Helpers for the emulator's own tests: plain ``requests`` against the live ``scf_emulator``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

UA = "emulator-tests/1.0"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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
