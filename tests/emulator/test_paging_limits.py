"""The emulator's listing limits as live captures show them: a page cap with three answers,
20 per page anonymously and with ``details=true`` (issue 15)."""

from __future__ import annotations

import pytest

from django_seeclickfix.testing.emulator.config import Behaviour

from .test_api import get


def pagination(response):
    return response.json()["metadata"]["pagination"]


def test_the_page_cap_repeats_the_last_page_by_default(scf_emulator, http):
    scf_emulator.configure(page_cap=2)
    second = get(http, scf_emulator, "/issues", per_page=5, page=2).json()["issues"]
    third = get(http, scf_emulator, "/issues", per_page=5, page=3)
    assert third.status_code == 200
    assert third.json()["issues"] == second
    defaults = Behaviour()
    assert (defaults.page_cap, defaults.page_cap_answer) == (25, "repeat")


@pytest.mark.parametrize(("answer", "status", "issues"), [("404", 404, None), ("empty", 200, 0)])
def test_past_the_cap_a_listing_answers_as_configured(scf_emulator, http, answer, status, issues):
    scf_emulator.configure(page_cap=1, page_cap_answer=answer)
    full = pagination(get(http, scf_emulator, "/issues", per_page=5))
    response = get(http, scf_emulator, "/issues", per_page=5, page=2)
    assert response.status_code == status
    if issues is not None:
        assert len(response.json()["issues"]) == issues
        assert pagination(response)["entries"] == full["entries"]


def test_page_cap_zero_serves_every_page(scf_emulator, http):
    scf_emulator.configure(page_cap=0)
    entries = pagination(get(http, scf_emulator, "/issues", per_page=1))["entries"]
    last = get(http, scf_emulator, "/issues", per_page=1, page=entries).json()
    assert len(last["issues"]) == 1


def test_unknown_cap_answers_are_refused(scf_emulator):
    with pytest.raises(Exception, match="page_cap_answer"):
        scf_emulator.configure(page_cap_answer="sometimes")
