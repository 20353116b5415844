"""Real PostgreSQL and Redis servers for the tests and benchmarks, started from installed binaries.

Each server gets a temporary directory and a free port on 127.0.0.1 and is torn down by ``stop``.
A missing binary is an error that names the package to install, never a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ServerUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, package: str, extra_globs: tuple[str, ...] = ()) -> str:
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra_globs:
        matches = sorted(glob.glob(pattern), reverse=True)
        if matches:
            return matches[0]
    raise ServerUnavailable(
        f"{name} is not installed, and the tests need a real one. "
        f"Install it (Debian/Ubuntu: apt-get install {package})."
    )


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"{what} exited with status {process.returncode} on start.")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServerUnavailable(f"{what} did not accept connections on port {port} in {timeout}s.")


def _pg_bin(name: str) -> str:
    return find_binary(name, "postgresql", (f"/usr/lib/postgresql/*/bin/{name}",))


class PostgresServer:
    """A throwaway PostgreSQL cluster. As root it runs as the ``postgres`` user, which it needs."""

    user = "postgres"

    def __init__(self) -> None:
        self.initdb = _pg_bin("initdb")
        self.postgres = _pg_bin("postgres")
        self.port = 0
        self.dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def _run_as(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        runuser = find_binary("runuser", "util-linux")
        return [runuser, "-u", "postgres", "--"]

    def start(self) -> PostgresServer:
        self.dir = Path(tempfile.mkdtemp(prefix="scf-pg-"))
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        prefix = self._run_as()
        subprocess.run(
            [
                *prefix,
                self.initdb,
                "-D",
                str(data),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                *prefix,
                self.postgres,
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.dir),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "postgres.log", "wb"),  # noqa: SIM115  (closed with the process)
        )
        wait_for_port(self.port, self.process, "PostgreSQL")
        return self

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/scf"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: "smart" shutdown is too slow, this is "fast"
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A throwaway Redis without persistence. ``restart`` keeps the port (and loses the data)."""

    def __init__(self) -> None:
        self.binary = find_binary("redis-server", "redis-server")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="scf-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process, "Redis")
        return self

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


DOORKEEPER_PACKAGES = {
    "rails": "ruby-rails",
    "doorkeeper": "ruby-doorkeeper",
    "sqlite3": "ruby-sqlite3",
    "webrick": "ruby-webrick",
}
DOORKEEPER_APP = Path(__file__).parent / "doorkeeper" / "server.rb"


def _missing_ruby_libraries(ruby: str) -> list[str]:
    probe = "; ".join(
        f"begin; gem {name!r}; rescue LoadError; puts {package!r}; end"
        for name, package in DOORKEEPER_PACKAGES.items()
    )
    result = subprocess.run([ruby, "-e", probe], capture_output=True, text=True, check=True)
    return result.stdout.split()


class DoorkeeperServer:
    """The real Doorkeeper 5.5 in a one-file Rails app (tests/doorkeeper/server.rb), in the
    regime ``options`` names (its DK_* variables, e.g. ``{"REFRESH": "off"}``): a fresh database
    on every start, so one process serves one regime."""

    def __init__(self, **options: str) -> None:
        self.ruby = find_binary("ruby", "ruby")
        missing = _missing_ruby_libraries(self.ruby)
        if missing:
            raise ServerUnavailable(
                "The Doorkeeper tests need the real Doorkeeper on Ruby. "
                f"Install it (Debian/Ubuntu: apt-get install {' '.join(missing)})."
            )
        self.options = options
        self.port = 0
        self.dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DoorkeeperServer:
        self.dir = Path(tempfile.mkdtemp(prefix="scf-doorkeeper-"))
        self.port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),
            "DK_PORT": str(self.port),
            "DK_ROOT": str(self.dir),
            **{f"DK_{name}": value for name, value in self.options.items()},
        }
        self.process = subprocess.Popen(
            [self.ruby, str(DOORKEEPER_APP)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "wb"),  # noqa: SIM115  (closed with the process)
        )
        try:
            wait_for_port(self.port, self.process, "Doorkeeper", timeout=60)
        except ServerUnavailable as err:
            raise ServerUnavailable(f"{err} Its output: {self.log()}") from None
        return self

    def log(self) -> str:
        if not self.dir:
            return ""
        return (self.dir / "stderr.log").read_text(errors="replace")[-4000:]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
