"""Fixtures for the client tests: a client against a mocked host, and the documented samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from django_seeclickfix.client import (
    BearerAuth,
    MemoryEtagStore,
    SeeClickFixClient,
    Unlimited,
)

BASE = "https://scf.example"
API = f"{BASE}/api/v2"
TOKEN = "pat-Zx9/secret-token-value"  # contains / and - like real personal access tokens
SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> Any:
    """A body from the SeeClickFix documentation (quirks included), copied from the reference."""
    return json.loads((SAMPLES / f"{name}.json").read_text())


def issue_json(issue_id: int, updated_at: str = "2024-01-01T10:00:00-05:00", **extra: Any) -> Any:
    body = dict(sample("issues_list")["issues"][0])
    body.update(id=issue_id, updated_at=updated_at, **extra)
    return body


def issues_page(issues: list[Any], page: int = 1, next_page: Any = None, per_page: int = 100):
    return {
        "errors": None,
        "metadata": {
            "pagination": {
                "entries": len(issues),
                "page": page,
                "per_page": per_page,
                "pages": page + (1 if next_page not in (None, "null") else 0),
                "next_page": next_page,
                "next_page_url": None if next_page is None else f"{API}/api/v2/x?page={next_page}",
                "previous_page": "null",
                "previous_page_url": "null",
            }
        },
        "issues": issues,
    }


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    with SeeClickFixClient(
        BASE, BearerAuth(TOKEN), budget=Unlimited(), etag_store=MemoryEtagStore()
    ) as scf:
        yield scf


@pytest.fixture(autouse=True)
def _fresh_caches():
    """The budget and ETags live in Django's cache: no pause or ETag leaks between tests."""
    from django.core.cache import caches

    caches["default"].clear()
    yield
    caches["default"].clear()
