"""``benchmarks/feed_figures.py`` stays runnable (the benchmarks runner imports it)."""

from __future__ import annotations

import importlib.util

import pytest

from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixAreaFeed, SeeClickFixIssue
from tests.workers import ROOT


def _module():
    spec = importlib.util.spec_from_file_location(
        "feed_figures", ROOT / "benchmarks" / "feed_figures.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_the_feed_costs_one_request_for_what_per_user_syncs_pay_one_each():
    figures = _module().feed_figures(users=40, changes=5)

    assert figures["requests_per_pass_feed"] == figures["requests_per_pass_feed_goal"] == 1.0
    assert figures["requests_per_pass_per_user"] == 40.0
    assert figures["feed_issues_stored"] == 5
    # It leaves the database as it found it.
    assert not SeeClickFixAccount.objects.exists()
    assert not SeeClickFixIssue.objects.exists()
    assert not SeeClickFixAreaFeed.objects.exists()


@pytest.mark.django_db
def test_a_sampled_per_user_pass_scales_the_measured_costs():
    figures = _module().feed_figures(users=60, changes=3, sample=10)

    assert figures["per_user_sampled"]
    assert figures["per_user_accounts_synced"] == 10
    assert figures["requests_per_pass_per_user"] == 60.0


def test_changes_must_be_among_the_users():
    with pytest.raises(ValueError, match="changes must be between 1 and users"):
        _module().feed_figures(users=10, changes=11)
