"""``scripts/demo`` itself, with its defaults: SQLite, kombu's filesystem broker, the database
cache, the emulator, a worker and beat; then Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import LOGS, ROOT
from tests.browser.steps import Steps
from tests.browser.test_example_site import (
    BACKGROUND,
    approve,
    expect,
    main_button,
    sign_in_on_seeclickfix,
)
from tests.servers import ServerUnavailable, free_port

pytestmark = [pytest.mark.integration, pytest.mark.browser]

UP = re.compile(r"Elm City Fixes is up \(in ([\d.]+) s\)")


class Demo:
    def __init__(self, var_dir: Path) -> None:
        self.site_port, self.emulator_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.site_port}"
        self.log_path = LOGS / "demo.log"
        LOGS.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        env = {
            **os.environ,
            "ELMCITY_VAR_DIR": str(var_dir),
            # The virtualenv running these tests (scripts/test made it): nothing to install.
            "SCF_VENV": sys.prefix,
        }
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SITE_URL"):
            env.pop(name, None)  # the demo's own defaults are under test
        # Its own session: the group id finds every process it started, for the checks below.
        self.popen = subprocess.Popen(
            [
                "bash",
                str(ROOT / "scripts" / "demo"),
                "--port",
                str(self.site_port),
                "--emulator-port",
                str(self.emulator_port),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_up(self, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = UP.search(self.output())
            if found:
                return float(found.group(1))
            if self.popen.poll() is not None:
                break
            time.sleep(0.2)
        raise ServerUnavailable(f"scripts/demo did not come up:\n{self.output()[-3000:]}")

    def group_alive(self) -> bool:
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """Last resort for a failed test: nothing it started may outlive it."""
        if self.group_alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        self._log.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path / "var")
    yield running
    running.stop()


def test_demo_script(demo: Demo, page: Any, steps: Callable[[str], Steps]) -> None:
    step = steps("demo")

    with step("scripts/demo is up and prints the credentials"):
        seconds = demo.wait_until_up()
        output = demo.output()
        assert "demo@elmcity.example / elm-city-demo" in output
        assert "rita@example.com / rita-demo-password" in output
        assert seconds < 60, f"the demo took {seconds} s to come up with everything installed"
        page.goto(f"{demo.url}/")

    with step("log in as the demo user"):
        page.get_by_role("link", name="Log in").first.click()
        page.fill("input[name=login]", "demo@elmcity.example")
        page.fill("input[name=password]", "elm-city-demo")
        main_button(page, "Sign In").click()
        expect(page).to_have_url(f"{demo.url}/dashboard/")

    with step("connect SeeClickFix as Rita"):
        main_button(page, "Connect SeeClickFix").click()
        sign_in_on_seeclickfix(page, "rita@example.com", "rita-demo-password")
        approve(page)
        expect(page.locator("#scf-name")).to_have_text("Rita Resident")

    with step("the worker syncs her issues through the filesystem broker"):
        expect(page.locator("#reports")).to_contain_text("(30 issues)", timeout=BACKGROUND)

    with step("Ctrl-C stops every process"):
        demo.popen.send_signal(signal.SIGINT)
        assert demo.popen.wait(45) == 130
        assert "all stopped" in demo.output()
        deadline = time.monotonic() + 5
        while demo.group_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not demo.group_alive(), "a process started by scripts/demo outlived Ctrl-C"
