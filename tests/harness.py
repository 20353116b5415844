"""pytest plugin (loaded with ``-p tests.harness``): starts the servers the run needs.

``--scf-db=postgres`` starts a throwaway PostgreSQL before Django reads its settings, so
``tests/settings.py`` finds it through ``SCF_TEST_DATABASE_URL``. ``--scf-db=sqlite`` (the default)
deselects the tests marked ``integration`` and says so; they run in the PostgreSQL pass, which in
turn runs only the tests that touch the database or need real servers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.servers import DoorkeeperServer, PostgresServer, RedisServer

_postgres: PostgresServer | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--scf-db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="database for this run: sqlite (unit tests) or postgres (everything, real server)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    global _postgres
    if early_config.known_args_namespace.scf_db != "postgres":
        os.environ.pop("SCF_TEST_DATABASE_URL", None)
        return
    if os.environ.get("SCF_TEST_DATABASE_URL"):
        return  # a caller (tox, a benchmark) already runs one
    _postgres = PostgresServer().start()
    os.environ["SCF_TEST_DATABASE_URL"] = _postgres.url


def pytest_unconfigure(config: pytest.Config) -> None:
    if _postgres is not None:
        _postgres.stop()


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("SCF_TEST_DATABASE_URL")
    return f"django-seeclickfix database: {'PostgreSQL ' + url if url else 'SQLite (in memory)'}"


# Fixtures that give a test the database (pytest-django's, and what builds on them).
DATABASE_FIXTURES = frozenset({"db", "transactional_db", "django_db_setup", "live_server"})


def needs_server(item: pytest.Item) -> bool:
    return bool(item.get_closest_marker("integration") or item.get_closest_marker("postgres"))


def uses_database(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(item.get_closest_marker("django_db")) or bool(names & DATABASE_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The SQLite pass leaves out what needs real servers; the PostgreSQL pass runs that and
    every test that touches the database, and leaves out the pure tests (client, emulator,
    parsing) that already ran in the SQLite pass: their outcome cannot depend on the database."""
    postgres = config.getoption("scf_db") == "postgres"
    if postgres:
        left = [item for item in items if not (needs_server(item) or uses_database(item))]
        message = "tests without a database ran in the SQLite pass only."
    else:
        left = [item for item in items if needs_server(item)]
        message = "integration/PostgreSQL tests were left for the --scf-db=postgres pass."
    if left:
        config.hook.pytest_deselected(items=left)
        kept = set(map(id, items)) - set(map(id, left))
        items[:] = [item for item in items if id(item) in kept]
        config._scf_deselected = (len(left), message)  # type: ignore[attr-defined]


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    count, message = getattr(config, "_scf_deselected", (0, ""))
    if count:
        terminalreporter.write_line(f"{count} {message}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis on a free port for this test session (``restart()`` for fault tests)."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def doorkeeper_servers() -> Iterator[Callable[..., DoorkeeperServer]]:
    """``doorkeeper_servers(REFRESH="off", ...)``: the real Doorkeeper in that regime (its DK_*
    variables, see tests/doorkeeper/server.rb), started on first use and kept for the session."""
    running: dict[tuple[tuple[str, str], ...], DoorkeeperServer] = {}

    def get(**regime: str) -> DoorkeeperServer:
        key = tuple(sorted(regime.items()))
        if key not in running:
            running[key] = DoorkeeperServer(**regime).start()
        return running[key]

    yield get
    for server in running.values():
        server.stop()
