"""Running contracts against a target, and the report a user can paste into an issue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from .registry import Contract, ContractFailed
from .target import Target

# What each capability a contract may need is, for the "not run" lines of a report.
NEEDS_TEXT = {
    "user": "a signed-in user's credentials",
    "bearer": "a user's bearer token",
    "client": "the OAuth app's client id and secret",
    "browser": "a browser that signs in at the server (no person at hand)",
    "control": "control of the server (only the emulator offers it)",
    "write": "permission to write",
}


@dataclass(frozen=True)
class Result:
    contract: Contract
    target: str
    held: bool
    observed: str

    @property
    def message(self) -> str:
        state = "held" if self.held else "did not hold"
        return f"{self.contract.name} ({self.target}) {state}: {self.contract.promise} " + (
            f"Observed: {self.observed}"
        )


def why_not(contract: Contract, target: Target) -> str | None:
    """Why ``contract`` cannot run against ``target``, or None when it can."""
    missing = contract.missing(target.capabilities)
    if not missing:
        return None
    return "needs " + ", ".join(NEEDS_TEXT[need] for need in sorted(missing))


def run_contract(contract: Contract, target: Target) -> Result:
    """Runs one contract; a failed promise or a broken connection is a result, not a raise
    (secrets masked either way)."""
    try:
        observed = contract(target)
    except ContractFailed as failed:
        return Result(contract, target.name, False, failed.observed)
    except Exception as err:  # a network error, a refused budget: a result, not a crash
        return Result(
            contract, target.name, False, target.redact(f"error: {type(err).__name__}: {err}")
        )
    return Result(contract, target.name, True, observed)


def run_contracts(
    contracts: Iterable[Contract], target: Target
) -> tuple[list[Result], list[tuple[Contract, str]]]:
    """(results of those that can run, [(contract, why not)] of the others)."""
    results: list[Result] = []
    skipped: list[tuple[Contract, str]] = []
    for contract in contracts:
        reason = why_not(contract, target)
        if reason:
            skipped.append((contract, reason))
        else:
            results.append(run_contract(contract, target))
    return results, skipped


def _package_version() -> str:
    try:
        return version("django-seeclickfix")
    except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
        return "unknown"


def format_report(
    results: list[Result],
    *,
    server: str,
    not_run: Iterable[tuple[Contract, str]] = (),
) -> str:
    """A Markdown report: every guess held or not with what was seen, then every other
    contract that did not hold, then what did not run and why."""
    guesses = [r for r in results if r.contract.guess]
    broken = [r for r in results if not r.held and not r.contract.guess]
    held = sum(r.held for r in results)
    skipped = list(not_run)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "### SeeClickFix contract report",
        "",
        f"Server: {server}; django-seeclickfix {_package_version()}; {when}.",
        f"Contracts: {held} held, {len(results) - held} did not hold, {len(skipped)} not run.",
        "",
        "Guesses (where the emulator chooses because SeeClickFix's docs are silent):",
    ]
    if not guesses:
        lines.append("- none ran")
    for result in guesses:
        state = "held" if result.held else "DID NOT HOLD"
        lines.append(
            f"- {state}: `{result.contract.name}`: {result.contract.guess} "
            f"Observed: {result.observed}"
        )
    if broken:
        lines += ["", "Contracts that did not hold:"]
        lines += [
            f"- `{r.contract.name}`: {r.contract.promise} Observed: {r.observed}" for r in broken
        ]
    if skipped:
        lines += ["", "Not run:"]
        lines += [f"- `{contract.name}`: {reason}" for contract, reason in skipped]
    return "\n".join(lines)
