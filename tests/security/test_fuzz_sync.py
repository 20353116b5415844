"""Property-based fuzzing of what a sync stores: pages of issues whose fields are hostile.

Property: ``sync_account`` either completes, having stored every issue with a usable id (an
integer that fits the 64-bit column) exactly once, or raises a member of the error tree; an
odd field (a huge rating, an id beyond 64 bits, a NUL in a summary, a timestamp at the end of
time) never makes the database refuse the page.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import example, given
from hypothesis import strategies as st

from django_seeclickfix import sync
from django_seeclickfix.client import (
    BearerAuth,
    MemoryEtagStore,
    SeeClickFixClient,
    Unlimited,
    parsing,
)
from django_seeclickfix.client.session import ApiSession
from django_seeclickfix.exceptions import SeeClickFixError
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixIssue

from .strategies import Answer, ScriptedTransport, fuzz_settings, issue_json

pytestmark = pytest.mark.django_db

CASES = 150

issue_ids = st.one_of(
    st.integers(1, 2**40),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, "12", "x", None, True]),
)
issues = st.tuples(issue_json, issue_ids).map(lambda t: {**t[0], "id": t[1]})


def _page(items: list[Any], number: int, total: int) -> bytes:
    pagination = {
        "page": number,
        "pages": total,
        "per_page": 100,
        "entries": len(items),
        "next_page": number + 1 if number < total else None,
    }
    return json.dumps({"metadata": {"pagination": pagination}, "issues": items}).encode()


@pytest.fixture
def account(django_user_model: Any) -> SeeClickFixAccount:
    return SeeClickFixAccount.objects.create(
        user=django_user_model.objects.create_user("fuzz"),
        environment="production",
        user_scf_id=5,
        access_token="fuzz-token",
        profile_synced_at=timezone.now() + timedelta(days=1),  # no profile request
    )


def _usable_id(raw: Any) -> int | None:
    if not isinstance(raw, dict):
        return None
    value = parsing.integer(raw.get("id"))
    return value if value is not None and -(2**63) <= value < 2**63 else None


@fuzz_settings(CASES)
@given(pages=st.lists(st.lists(issues, min_size=1, max_size=5), min_size=1, max_size=3))
# Found by this test, fixed since: the database refused ids beyond 64 bits (an OverflowError
# on SQLite, a DataError on PostgreSQL), ratings beyond 32 bits and reporters beyond 64 bits.
@example(pages=[[{"id": 2**63}, {"id": 7}]])
@example(pages=[[{"id": 8, "rating": 2**40, "reporter": {"id": 2**64}}]])
@example(
    pages=[
        [{"id": 1, "updated_at": "9999-12-31T23:59:59Z"}],
        [{"id": 1, "updated_at": "9999-12-31T23:59:59Z"}],
    ]
)
def test_odd_issue_fields_never_make_the_database_refuse_a_page(account, pages):
    script = [Answer(200, {}, _page(items, n, len(pages))) for n, items in enumerate(pages, 1)]
    transport = ScriptedTransport(script)
    session = ApiSession(budget=Unlimited())
    session.session.mount("https://", transport)
    client = SeeClickFixClient(
        "https://scf.example",
        BearerAuth("fuzz-token"),
        session=session,
        etag_store=MemoryEtagStore(),
    )
    with transaction.atomic():
        try:
            sync.sync_now(account, client=client)
        except SeeClickFixError:
            pass
        else:
            served = pages[: len(transport.sent)]
            expected = {
                i for items in served for raw in items if (i := _usable_id(raw)) is not None
            }
            stored = list(SeeClickFixIssue.objects.values_list("scf_id", flat=True))
            assert sorted(stored) == sorted(expected)
        transaction.set_rollback(True)
