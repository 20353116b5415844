"""Property: over random listings, random concurrent changes and random page caps, the walk
by update time leaves the mirror equal to the service once changes stop (issue 15)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from .listing_service import EPOCH, Listing, sync

listings = st.lists(st.integers(min_value=0, max_value=12), min_size=0, max_size=160)
changes = st.lists(
    st.tuples(st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=160)),
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    seconds=listings,
    changed=changes,
    per_page=st.sampled_from([3, 20]),
    cap=st.sampled_from([0, 2, 5]),
    answer=st.sampled_from(["404", "empty", "repeat"]),
    send_date=st.booleans(),
    passes=st.integers(min_value=1, max_value=3),
)
def test_the_mirror_equals_the_service_after_the_changes_stop(
    seconds, changed, per_page, cap, answer, send_date, passes
):
    # more issues in one second than the cap lets through is PageCapReached (tested apart)
    assume(not cap or max(Counter(seconds).values(), default=0) <= cap * per_page)
    listing = Listing(
        {n + 1: EPOCH + timedelta(seconds=s) for n, s in enumerate(sorted(seconds))},
        per_page=per_page,
        page_cap=cap,
        page_cap_answer=answer,
        send_date=send_date,
    )
    plan = dict(changed)

    def concurrent(request: int) -> None:
        issue_id = plan.get(request)
        if issue_id is not None and issue_id in listing.stamps:
            listing.change(issue_id)

    listing.before_request = concurrent
    mirror: dict[int, object] = {}
    cursor = None
    for _ in range(passes):
        cursor = sync(listing, mirror, cursor)
    listing.before_request = lambda _n: None
    cursor = sync(listing, mirror, cursor)
    assert mirror == listing.stamps
