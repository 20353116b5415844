"""Every contract against every server that can answer it: the emulator (all of them), the real
Doorkeeper (the OAuth ones) and the live SeeClickFix test host (behind SEECLICKFIX_LIVE_TESTS=1;
see conftest.py for the gate and docs/contracts.md for its variables)."""

from __future__ import annotations

import pytest

from django_seeclickfix.testing.contracts import CONTRACTS, run_contract, select, why_not

from .conftest import DOORKEEPER_CAPABILITIES


def cases() -> list[object]:
    found = [pytest.param("emulator", c, id=f"emulator-{c.name}") for c in CONTRACTS.values()]
    found += [
        pytest.param("doorkeeper", c, id=f"doorkeeper-{c.name}", marks=pytest.mark.integration)
        for c in select(tags={"oauth"})
        if not c.missing(DOORKEEPER_CAPABILITIES)
    ]
    found += [
        pytest.param("live", c, id=f"live-{c.name}", marks=pytest.mark.live_contract)
        for c in CONTRACTS.values()
    ]
    return found


@pytest.mark.parametrize(("server", "contract"), cases())
def test_contract(server, contract, request, record_result):
    target = request.getfixturevalue(f"{server}_contract_target")
    # Collection decided this contract can run here; a target short of it is a bug, not a skip.
    assert why_not(contract, target) is None, why_not(contract, target)
    result = run_contract(contract, target)
    record_result(result)
    if not result.held:
        pytest.fail(result.message, pytrace=False)


def test_every_oauth_contract_runs_against_doorkeeper():
    assert [c.name for c in select(tags={"oauth"}) if c.missing(DOORKEEPER_CAPABILITIES)] == []
