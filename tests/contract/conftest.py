"""The contract suite's servers: the emulator (always), the real Doorkeeper (OAuth contracts,
in the PostgreSQL pass with the other tests that start servers) and the live SeeClickFix test
host, which runs only with ``SEECLICKFIX_LIVE_TESTS=1``; without it its tests are deselected
and the terminal summary says why. A live run ends with the pasteable report."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from django_seeclickfix.testing.contracts import (
    Contract,
    Result,
    Target,
    format_report,
    why_not,
)
from django_seeclickfix.testing.contracts import live as live_env
from django_seeclickfix.testing.contracts.emulator_target import emulator_target
from tests.doorkeeper.doorkeeper import Browser, Doorkeeper, Forms
from tests.servers import DoorkeeperServer

# Never contacted: Doorkeeper's redirect back is read off the Location header.
DOORKEEPER_REDIRECT = "http://127.0.0.1:9/contract/callback"
# What the doorkeeper_target fixture provides (decided before it starts, at collection).
DOORKEEPER_CAPABILITIES = frozenset({"user", "bearer", "client", "browser"})

RESULTS = pytest.StashKey[list[Result]]()
LIVE_DESELECTED = pytest.StashKey[list[tuple[Contract, str]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "live_contract: a contract against the live SeeClickFix test host "
        "(SEECLICKFIX_LIVE_TESTS=1, docs/contracts.md)",
    )
    config.stash[RESULTS] = []
    config.stash[LIVE_DESELECTED] = []


def live_reason(contract: Contract, gate: live_env.Gate, target: Target | None) -> str | None:
    """Why the live run leaves ``contract`` out, or None when it runs."""
    if not gate.enabled or target is None:
        return gate.reason
    if "write" in contract.needs and not gate.writable:
        return gate.reason
    reason = why_not(contract, target)
    return f"they need what the live host cannot give a test ({reason})" if reason else None


@pytest.hookimpl(trylast=True)  # after -k and -m: count only what they kept
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    left: list[pytest.Item] = []
    gate = live_env.gate(os.environ)
    target = live_env.live_target(os.environ) if gate.enabled else None
    for item in items:
        if item.get_closest_marker("live_contract") is None:
            continue
        contract = item.callspec.params["contract"]  # type: ignore[attr-defined]
        reason = live_reason(contract, gate, target)
        if reason:
            left.append(item)
            config.stash[LIVE_DESELECTED].append((contract, reason))
    if left:
        config.hook.pytest_deselected(items=left)
        gone = set(map(id, left))
        items[:] = [item for item in items if id(item) not in gone]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    deselected = config.stash[LIVE_DESELECTED]
    for reason, count in Counter(reason for _, reason in deselected).items():
        terminalreporter.write_line(f"{count} live contract(s) deselected: {reason}.")
    live = [r for r in config.stash[RESULTS] if r.target == "live"]
    if live:
        base_url = live_env.live_target(os.environ).base_url
        terminalreporter.write_sep("=", "SeeClickFix contract report (paste into an issue)")
        report = format_report(live, server=f"live ({base_url})", not_run=deselected)
        terminalreporter.write_line(report)


@pytest.fixture
def record_result(request: pytest.FixtureRequest) -> Callable[[Result], None]:
    return request.config.stash[RESULTS].append


@pytest.fixture
def emulator_contract_target(scf_emulator) -> Target:
    return emulator_target(scf_emulator)


@pytest.fixture(scope="session")
def doorkeeper_contract_target(
    doorkeeper_servers: Callable[..., DoorkeeperServer],
) -> Iterator[Target]:
    doorkeeper = Doorkeeper(doorkeeper_servers())
    app = doorkeeper.create_app(DOORKEEPER_REDIRECT)
    browser = Browser(doorkeeper, doorkeeper.create_user())

    def authorize(url: str, approve: bool) -> str | None:
        # Doorkeeper approves without asking when the user already holds a token of the app,
        # so a denial needs a user who never authorized it.
        who = browser if approve else Browser(doorkeeper, doorkeeper.create_user())
        page = who.open(url)
        if isinstance(page, str):
            return page
        if not Forms(page.text).forms:
            return None  # Doorkeeper's error page: no consent form on it
        return who.authorize(url, approve=approve)

    session = requests.Session()
    session.headers["User-Agent"] = "django-seeclickfix contract suite (doorkeeper)"
    target = Target(
        name="doorkeeper",
        base_url=doorkeeper.url,
        session=session,
        client_id=app.uid,
        client_secret=app.secret,
        redirect_uri=DOORKEEPER_REDIRECT,
        authorize=authorize,
    )
    # The user's own token, through the code flow like any other.
    back = authorize(
        f"{doorkeeper.url}/oauth/authorize?response_type=code&client_id={app.uid}"
        f"&redirect_uri={DOORKEEPER_REDIRECT}&state=contract",
        True,
    )
    assert back is not None
    code = dict(parse_qsl(urlsplit(back).query))["code"]
    answer = session.post(
        f"{doorkeeper.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": DOORKEEPER_REDIRECT,
            "client_id": app.uid,
            "client_secret": app.secret,
        },
        timeout=10,
    )
    answer.raise_for_status()
    token = answer.json()["access_token"]
    target.token, target.authorization = token, f"Bearer {token}"
    target.remember_secret(token)
    assert target.capabilities == DOORKEEPER_CAPABILITIES
    yield target
    session.close()


@pytest.fixture(scope="session")
def live_contract_target() -> Target:
    return live_env.live_target(os.environ)
