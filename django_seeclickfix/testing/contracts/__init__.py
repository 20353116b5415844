"""Contracts: the observable promises of a SeeClickFix server that the library relies on.

The same contracts run against the emulator, the Doorkeeper test server and (behind
``SEECLICKFIX_LIVE_TESTS=1``) the live test host; ``manage.py seeclickfix_check
--live-contract`` runs the read-only ones against a site's configured SeeClickFix. See
docs/contracts.md.

>>> from django_seeclickfix.testing.contracts import Target, select, run_contracts
>>> results, not_run = run_contracts(select(tags={"read"}), Target("mine", "http://..."))
"""

from __future__ import annotations

# Importing the contract modules registers their contracts.
from . import api, errors, oauth  # noqa: F401
from .registry import CONTRACTS, Broken, Contract, ContractFailed, check, contract, select
from .runner import Result, format_report, run_contract, run_contracts, why_not
from .target import Pace, ServerControl, Target

__all__ = [
    "CONTRACTS",
    "Broken",
    "Contract",
    "ContractFailed",
    "Pace",
    "Result",
    "ServerControl",
    "Target",
    "check",
    "contract",
    "format_report",
    "run_contract",
    "run_contracts",
    "select",
    "why_not",
]
