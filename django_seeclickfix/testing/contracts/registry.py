"""The contract registry: each contract one observable promise of a SeeClickFix-like server.

A contract is a function of a :class:`~.target.Target` that returns what it observed (a short
text for the report) or raises :class:`Broken` with what it saw instead. Registered with
:func:`contract`, it becomes a :class:`Contract`: calling one raises :class:`ContractFailed`, an
``AssertionError`` naming the promise that did not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .target import Target

# read: changes nothing at the server (safe against any account, the operators' check runs
# these); write: changes data (a comment, a status); oauth: about the OAuth server (Doorkeeper
# runs these). A contract may carry several.
TAGS = frozenset({"read", "write", "oauth"})

# What a contract needs of its target (see Target.capabilities).
NEEDS = frozenset({"user", "bearer", "client", "browser", "control", "write"})


class Broken(Exception):
    """Raised inside a contract: the server answered ``observed`` instead."""

    def __init__(self, observed: str) -> None:
        super().__init__(observed)
        self.observed = observed


class ContractFailed(AssertionError):
    """A contract did not hold. The message names the contract, its promise and what was seen
    (with every secret of the target masked)."""

    def __init__(self, contract: Contract, observed: str) -> None:
        super().__init__(f"{contract.name}: {contract.promise} Observed: {observed}")
        self.contract = contract
        self.observed = observed


def check(condition: object, observed: str) -> None:
    """Inside a contract: ``condition`` must hold, else the server answered ``observed``."""
    if not condition:
        raise Broken(observed)


@dataclass(frozen=True)
class Contract:
    name: str
    promise: str
    tags: frozenset[str]
    needs: frozenset[str]
    # The emulator's choice where SeeClickFix's documentation is silent (docs/emulator.md,
    # "Where the emulator chooses"); None for documented or observed behaviour.
    guess: str | None
    function: Callable[[Target], str]

    def __call__(self, target: Target) -> str:
        """Runs the contract; returns what was observed, or raises :class:`ContractFailed`."""
        try:
            return target.redact(self.function(target))
        except Broken as broken:
            raise ContractFailed(self, target.redact(broken.observed)) from None

    def missing(self, capabilities: Iterable[str]) -> frozenset[str]:
        """What of ``needs`` a target with ``capabilities`` lacks."""
        return self.needs - frozenset(capabilities)


CONTRACTS: dict[str, Contract] = {}


def contract(
    name: str,
    promise: str,
    *,
    tags: Iterable[str],
    needs: Iterable[str] = (),
    guess: str | None = None,
) -> Callable[[Callable[[Target], str]], Contract]:
    """Registers the decorated function as contract ``name``."""
    tag_set, need_set = frozenset(tags), frozenset(needs)
    if not tag_set or tag_set - TAGS:
        raise ValueError(f"contract {name!r}: tags must be among {sorted(TAGS)}")
    if need_set - NEEDS:
        raise ValueError(f"contract {name!r}: needs must be among {sorted(NEEDS)}")
    if "write" in tag_set:
        need_set |= {"write"}

    def register(function: Callable[[Target], str]) -> Contract:
        if name in CONTRACTS:
            raise ValueError(f"contract {name!r} is registered twice")
        made = Contract(name, promise, tag_set, need_set, guess, function)
        CONTRACTS[name] = made
        return made

    return register


def select(*, tags: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> list[Contract]:
    """The registered contracts carrying any of ``tags`` (all when None) and none of
    ``exclude``, in registration order."""
    wanted = None if tags is None else frozenset(tags)
    unwanted = frozenset(exclude)
    return [
        c
        for c in CONTRACTS.values()
        if (wanted is None or c.tags & wanted) and not c.tags & unwanted
    ]
