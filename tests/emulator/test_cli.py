"""The command line and the ``seeclickfix_emulator`` management command."""

from __future__ import annotations

import argparse
import functools
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from django_seeclickfix.management.commands import seeclickfix_emulator as command
from django_seeclickfix.testing.emulator import Emulator
from django_seeclickfix.testing.emulator.cli import (
    add_arguments,
    banner,
    emulator_from_options,
    main,
    parse_app,
    serve,
)
from django_seeclickfix.testing.emulator.core import parse_rate_limit

ROOT = Path(__file__).resolve().parents[2]


def options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_parse_app():
    assert parse_app("web:s3cret=http://a/cb/,http://b/cb/") == {
        "client_id": "web",
        "secret": "s3cret",
        "redirect_uris": ["http://a/cb/", "http://b/cb/"],
    }
    assert parse_app("mobile=myapp://cb")["secret"] is None
    with pytest.raises(argparse.ArgumentTypeError):
        parse_app("no-uris")


def test_parse_rate_limit():
    assert parse_rate_limit("20/60") == (20, 60.0)
    assert parse_rate_limit("5 / 0.5") == (5, 0.5)
    assert parse_rate_limit("off") is None
    for bad in ("20", "0/60", "a/b", "20/0"):
        with pytest.raises(ValueError, match="20/60"):
            parse_rate_limit(bad)
    with pytest.raises(SystemExit):
        options("--rate-limit", "lots")


def test_options_build_the_emulator_they_describe():
    emulator = emulator_from_options(
        options(
            "--port",
            "0",
            "--seed",
            "empty",
            "--redirect-uri",
            "http://localhost:9000/cb/",
            "--app",
            "extra:x=http://localhost:9000/cb/",
            "--token-regime",
            "no_refresh",
            "--no-rotation",
            "--access-token-lifetime",
            "60",
            "--rate-limit",
            "5/10",
            "--rate-limit-scope",
            "token",
            "--abuse-after",
            "3",
            "--invalid-token",
            "anonymous",
            "--moderate-comments",
            "--moderate-issues",
            "--no-pkce",
            "--quirk",
            "utc_timestamps",
        )
    )
    assert emulator.seed_name == "empty"
    assert "http://localhost:9000/cb/" in emulator.code_app.redirect_uris
    extra = emulator.app("extra")
    assert (extra.secret, extra.token_regime, extra.access_token_lifetime) == (
        "x",
        "no_refresh",
        60,
    )
    assert extra.rotate_refresh_tokens is False
    assert emulator.limiter.describe() == {
        "enabled": True,
        "requests": 5,
        "period": 10.0,
        "scope": "token",
        "abuse_after": 3,
    }
    behaviour = emulator.behaviour
    assert behaviour.invalid_token_behaviour == "anonymous"
    assert behaviour.moderate_comments
    assert behaviour.moderate_issues
    assert behaviour.pkce is False
    assert behaviour.quirks.utc_timestamps is True


def test_banner_shows_what_a_developer_needs():
    emulator = Emulator(port=0)
    text = banner(emulator)
    for expected in (
        "scf-emulator-code  secret: scf-emulator-code-secret",
        "scf-emulator-implicit  secret: (none: public, implicit flow)",
        "redirect URI: http://testserver/accounts/seeclickfix/login/callback/",
        "rita@example.com",
        "rita-demo-password",
        "personal access token: cp-",
        "[official]",
        "20 per 60s per address",
    ):
        assert expected in text


def test_serve_prints_logs_and_stops():
    emulator = Emulator(port=0, rate_limit=None)
    out = io.StringIO()
    stop = threading.Event()

    def client() -> None:
        deadline = time.monotonic() + 5
        while not emulator.server.running and time.monotonic() < deadline:
            time.sleep(0.01)
        requests.get(
            f"{emulator.api_url}/issues?per_page=1", headers={"User-Agent": "t"}, timeout=5
        )
        stop.set()

    threading.Thread(target=client).start()
    serve(emulator, out=out, stop=stop, log_requests=True)
    text = out.getvalue()
    assert "SeeClickFix emulator" in text
    assert "GET /api/v2/issues?per_page=1 → 200 (none)" in text
    assert text.endswith("Emulator stopped.\n")
    assert not emulator.server.running


def test_main_reports_a_busy_port(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["--port", str(busy.getsockname()[1])]) == 1
    assert "Cannot serve" in capsys.readouterr().err


def test_management_command_prints_the_settings(monkeypatch):
    done = threading.Event()
    done.set()  # serve prints everything, then finds the stop event already set
    monkeypatch.setattr(command, "serve", functools.partial(serve, stop=done))
    out = io.StringIO()
    call_command("seeclickfix_emulator", "--port", "0", stdout=out)
    text = out.getvalue()
    assert '"ENVIRONMENT": "emulator"' in text
    assert '"client_id": "scf-emulator-code"' in text
    assert "rita-demo-password" in text


@pytest.mark.integration
def test_python_dash_m_runs_standalone_and_stops_on_sigterm():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django_seeclickfix.testing.emulator",
            "--port",
            "0",
            "--log-requests",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Serving"):
                break
        url = next(line.split()[2] for line in lines if "base URL" in line)
        assert requests.get(
            f"{url}/api/v2/profile", headers={"User-Agent": "t"}, timeout=5
        ).json() == {"id": None}
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=10)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "GET /api/v2/profile → 200 (none)" in rest
    assert "Emulator stopped." in rest


@pytest.mark.parametrize("site_url", ["https://civic.example.org", "http://127.0.0.1:8123"])
def test_management_command_accepts_the_projects_own_redirect_uris(monkeypatch, settings, site_url):
    settings.SEECLICKFIX = {**settings.SEECLICKFIX, "SITE_URL": site_url}
    done = threading.Event()
    done.set()
    monkeypatch.setattr(command, "serve", functools.partial(serve, stop=done))
    out = io.StringIO()
    call_command("seeclickfix_emulator", "--port", "0", stdout=out)
    text = out.getvalue()
    for page in ("callback", "relay"):
        # once per built-in app: the code-flow one and the implicit one
        assert text.count(f"redirect URI: {site_url}/accounts/seeclickfix/login/{page}/") == 2
