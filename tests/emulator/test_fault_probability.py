"""Probabilistic faults: a share of the matching requests, repeatable from a seed."""

from __future__ import annotations

import pytest

from django_seeclickfix.testing.emulator.faults import Faults


def fired(faults: Faults, requests: int) -> list[bool]:
    return [faults.take("GET", "/api/v2/issues") is not None for _ in range(requests)]


def test_a_fault_with_a_probability_fires_on_about_that_share_repeatably():
    faults = Faults(seed=7)
    faults.add("^/api/v2/", "error", probability=0.2)
    first = fired(faults, 1000)
    assert 150 < sum(first) < 250
    faults.seed(7)
    assert fired(faults, 1000) == first  # same seed, same requests hit


def test_a_spared_request_falls_through_to_the_next_fault():
    faults = Faults(seed=1)
    rare = faults.add("^/api/v2/", "error", probability=0.1)
    always = faults.add("^/api/v2/", "reset")
    hits = [faults.take("GET", "/api/v2/issues") for _ in range(200)]
    assert {fault.id for fault in hits} == {rare.id, always.id}
    assert rare.fired + always.fired == 200


@pytest.mark.parametrize("probability", [0, -0.5, 1.5])
def test_a_probability_outside_zero_to_one_is_refused(probability):
    with pytest.raises(ValueError, match="probability"):
        Faults().add("^/", "error", probability=probability)
