"""The example site as real processes, the way ``scripts/demo`` runs it, on test servers.

The SeeClickFix emulator (``python -m django_seeclickfix.testing.emulator``), two Elm City Fixes
web servers (one registered for the authorization-code flow, one for the implicit flow), and one
Celery worker, on the harness's PostgreSQL and a real Redis (broker and shared cache). Every
process logs to ``artifacts/browser/logs/<name>.log``, which a failing start quotes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from django_seeclickfix.testing.emulator import RemoteEmulator
from tests.servers import RedisServer, ServerUnavailable, free_port

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "example_project"
ARTIFACTS = ROOT / "artifacts" / "browser"
LOGS = ARTIFACTS / "logs"
DATABASE = "elmcity_browser"


class Process:
    """One child process with its log file; ``stop`` ends it (TERM, then KILL)."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.log_path = LOGS / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            command, cwd=PROJECT, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT
        )

    def tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def failed(self, why: str) -> ServerUnavailable:
        return ServerUnavailable(
            f"{self.name} {why}. Last lines of {self.log_path}:\n{self.tail()}"
        )

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise self.failed(f"exited with status {self.popen.returncode}")

    def wait_for_http(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url, timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.1)
        raise self.failed(f"did not answer {url} in {timeout:.0f} s")

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if text in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise self.failed(f"did not log {text!r} in {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


def run(command: list[str], env: Mapping[str, str], what: str) -> None:
    result = subprocess.run(
        command, cwd=PROJECT, env=dict(env), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ServerUnavailable(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def create_database(server_url: str) -> str:
    """A fresh database for the example site on the harness's PostgreSQL; its URL."""
    import psycopg

    parts = urlsplit(server_url)
    admin = f"host={parts.hostname} port={parts.port} user={parts.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    return f"postgres://{parts.username}@{parts.hostname}:{parts.port}/{DATABASE}"


@dataclass
class Site:
    name: str
    flow: str
    url: str
    client_id: str
    env: dict[str, str]
    process: Process | None = None


@dataclass
class ElmCityStack:
    emulator_url: str
    emulator: RemoteEmulator
    sites: dict[str, Site]
    processes: list[Process] = field(default_factory=list)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.emulator.close()


# The emulator's and the site's rate budget: SeeClickFix's 20 a minute would make the two flows
# wait for each other; the budget's own behaviour has its tests elsewhere.
RATE_LIMIT = 200


def start_stack(database_server_url: str, redis: RedisServer, var_dir: Path) -> ElmCityStack:
    LOGS.mkdir(parents=True, exist_ok=True)
    processes: list[Process] = []
    try:
        emulator_port = free_port()
        emulator_url = f"http://127.0.0.1:{emulator_port}"
        emulator_process = Process(
            "emulator",
            [
                sys.executable,
                "-m",
                "django_seeclickfix.testing.emulator",
                "--port",
                str(emulator_port),
                "--seed",
                "demo",
                "--rate-limit",
                f"{RATE_LIMIT}/60",
                "--log-requests",
            ],
            os.environ,
        )
        processes.append(emulator_process)

        base = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "elmcity.settings",
            "ELMCITY_VAR_DIR": str(var_dir),
            "DJANGO_SECRET_KEY": "browser-tests-only",
            "DATABASE_URL": create_database(database_server_url),
            "CELERY_BROKER_URL": redis.url(2),
            "CACHE_URL": redis.url(3),
            "SCF_ENVIRONMENT": "emulator",
            "SCF_BASE_URL": emulator_url,
            "SCF_TOKEN_KEYS": Fernet.generate_key().decode(),
            "SCF_RATE_LIMIT_REQUESTS": str(RATE_LIMIT),
        }
        sites = {}
        for flow, secret in (("code", "elmcity-code-secret"), ("implicit", "")):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            client_id = f"elmcity-{flow}"
            env = {
                **base,
                "SITE_URL": url,
                "SCF_CLIENT_ID": client_id,
                "SCF_CLIENT_SECRET": secret,
                "SCF_FLOW": flow,
            }
            sites[flow] = Site(f"site-{flow}", flow, url, client_id, env)

        code = sites["code"]
        run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], code.env, "migrate")
        emulator_process.wait_for_http(f"{emulator_url}/_emulator/state")
        for site in sites.values():
            run(
                [sys.executable, "manage.py", "elmcity_setup", "--emulator"],
                site.env,
                f"elmcity_setup for the {site.flow} flow",
            )
            site.process = Process(
                site.name,
                [sys.executable, "manage.py", "runserver", "--noreload", urlsplit(site.url).netloc],
                site.env,
            )
            processes.append(site.process)
        worker = Process(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "elmcity",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                "browser-tests@%h",
            ],
            code.env,
        )
        processes.append(worker)
        for site in sites.values():
            assert site.process is not None
            site.process.wait_for_http(f"{site.url}/")
        worker.wait_for_log(" ready.")
    except BaseException:
        for process in reversed(processes):
            process.stop()
        raise
    return ElmCityStack(emulator_url, RemoteEmulator(emulator_url), sites, processes)
