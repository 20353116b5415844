"""Fixtures of the browser tests: the example site's processes, and the system Chromium."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import ARTIFACTS, ElmCityStack, start_stack
from tests.browser.steps import Steps
from tests.servers import RedisServer, ServerUnavailable, find_binary

# The system Chromium, quiet: no sandbox (root in CI), no GPU, and none of the background
# traffic a fresh profile would start (updates, sync, first-run pages).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def elmcity(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ElmCityStack]:
    database = os.environ.get("SCF_TEST_DATABASE_URL")
    if not database:
        raise ServerUnavailable(
            "The browser tests need the PostgreSQL pass: pytest --scf-db=postgres tests/browser"
        )
    stack = start_stack(database, redis_server, tmp_path_factory.mktemp("elmcity-var"))
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = find_binary("chromium", "chromium", ("/usr/bin/chromium",))
    with sync_playwright() as playwright:
        # executable_path: Playwright drives the installed Chromium and never downloads one.
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def steps(page: Any) -> Callable[[str], Steps]:
    """``steps("code-flow")``: the step recorder writing to artifacts/browser/code-flow/."""

    def make(flow: str) -> Steps:
        return Steps(page, Path(ARTIFACTS) / flow)

    return make
