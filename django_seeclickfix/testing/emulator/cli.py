"""Command line of the emulator, shared by ``python -m django_seeclickfix.testing.emulator`` and
the ``seeclickfix_emulator`` management command. Needs no Django settings."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .config import INVALID_TOKEN_BEHAVIOURS, Quirks
from .core import DEFAULT_RATE_LIMIT, Emulator, parse_rate_limit
from .models import TOKEN_REGIMES
from .requestlog import LoggedRequest
from .seeds import SEEDS

QUIRKS = tuple(Quirks.__dataclass_fields__)


def parse_app(value: str) -> dict[str, Any]:
    """``ID=URI[,URI...]`` (public, implicit-flow app) or ``ID:SECRET=URI[,URI...]``."""
    credentials, sep, uris = value.partition("=")
    if not sep or not credentials or not uris:
        raise argparse.ArgumentTypeError(
            f"--app wants CLIENT_ID[:SECRET]=REDIRECT_URI[,REDIRECT_URI...], got {value!r}"
        )
    client_id, _, secret = credentials.partition(":")
    return {
        "client_id": client_id,
        "secret": secret or None,
        "redirect_uris": [u.strip() for u in uris.split(",") if u.strip()],
    }


def _rate_limit(value: str) -> tuple[int, float] | None:
    try:
        return parse_rate_limit(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port (default 8001; 0: any free)")
    parser.add_argument(
        "--public-host", default=None, help="host name to put in printed URLs (with --host 0.0.0.0)"
    )
    parser.add_argument("--seed", choices=SEEDS, default="demo", help="data set (default demo)")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URI",
        help="extra redirect URI for the two built-in apps (repeatable)",
    )
    parser.add_argument(
        "--app",
        action="append",
        type=parse_app,
        default=[],
        metavar="ID[:SECRET]=URI[,URI]",
        help="register another OAuth app (repeatable); without a secret it is a public app",
    )
    parser.add_argument(
        "--token-regime",
        choices=TOKEN_REGIMES,
        default="refresh",
        help="for the apps: non_expiring, refresh (expiring + refresh tokens; default), "
        "no_refresh (expiring, no refresh token)",
    )
    parser.add_argument(
        "--no-rotation",
        action="store_true",
        help="keep the same refresh token on refresh (default: rotate, and revoke the family "
        "when an old one is reused)",
    )
    parser.add_argument(
        "--access-token-lifetime", type=int, default=7200, metavar="SECONDS", help="default 7200"
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=DEFAULT_RATE_LIMIT,
        metavar="N/SECONDS",
        help="requests per window per client (default 20/60; 'off' to disable)",
    )
    parser.add_argument(
        "--rate-limit-scope",
        choices=("address", "token"),
        default="address",
        help="default address",
    )
    parser.add_argument(
        "--abuse-after",
        type=int,
        default=None,
        metavar="N",
        help="answer 403 'forbidden by administrative rules' after N refused requests in a row",
    )
    parser.add_argument(
        "--invalid-token",
        choices=INVALID_TOKEN_BEHAVIOURS,
        default="401",
        help="what a bad, expired or revoked token gets (default 401)",
    )
    parser.add_argument("--moderate-comments", action="store_true", help="hold comments (202)")
    parser.add_argument("--moderate-issues", action="store_true", help="hold new issues (202)")
    parser.add_argument("--no-pkce", action="store_true", help="ignore PKCE parameters")
    parser.add_argument(
        "--quirk", action="append", choices=QUIRKS, default=[], help="switch on a quirk"
    )
    parser.add_argument(
        "--log-requests", action="store_true", help="print one line per request (no secrets)"
    )


def emulator_from_options(options: argparse.Namespace | dict[str, Any]) -> Emulator:
    o = vars(options) if isinstance(options, argparse.Namespace) else options
    return Emulator(
        host=o["host"],
        port=o["port"],
        public_host=o.get("public_host"),
        seed=o["seed"],
        redirect_uris=o["redirect_uri"],
        apps=[
            {
                **app,
                "token_regime": o["token_regime"],
                "rotate_refresh_tokens": not o["no_rotation"],
                "access_token_lifetime": o["access_token_lifetime"],
            }
            for app in o["app"]
        ],
        token_regime=o["token_regime"],
        rotate_refresh_tokens=not o["no_rotation"],
        access_token_lifetime=o["access_token_lifetime"],
        rate_limit=o["rate_limit"],
        rate_limit_scope=o["rate_limit_scope"],
        abuse_after=o["abuse_after"],
        invalid_token_behaviour=o["invalid_token"],
        moderate_comments=o["moderate_comments"],
        moderate_issues=o["moderate_issues"],
        pkce=not o["no_pkce"],
        quirks=dict.fromkeys(o["quirk"], True),
    )


def banner(emulator: Emulator) -> str:
    info = emulator.describe()
    limit = info["rate_limit"]
    lines = [
        "SeeClickFix emulator",
        f"  base URL      {info['url']}    (SEECLICKFIX['BASE_URL'])",
        f"  API root      {info['api_url']}",
        f"  control API   {info['url']}/_emulator/state",
        f"  seed          {info['seed']} ({info['issues']} issues)",
        "  rate limit    "
        + (
            f"{limit['requests']} per {limit['period']:g}s per {limit['scope']}"
            if limit["enabled"]
            else "off"
        ),
        f"  bad tokens    {info['behaviour']['invalid_token_behaviour']}",
        "",
        "OAuth clients:",
    ]
    for app in info["apps"]:
        rotation = "on" if app["rotate_refresh_tokens"] else "off"
        lines += [
            f"  {app['client_id']}  secret: {app['secret'] or '(none: public, implicit flow)'}",
            f"    regime: {app['token_regime']}, access tokens live "
            f"{app['access_token_lifetime']}s, rotation {rotation}",
        ]
        lines += [f"    redirect URI: {uri}" for uri in app["redirect_uris"]]
    lines += ["", "Users (email / password):"]
    for user in info["users"]:
        extra = " [official]" if user["can_acknowledge"] else ""
        lines.append(
            f"  {user['email']:<32} {user['password']:<24} "
            f"{user['reported_issues']:>3} issues{extra}"
        )
        if user["personal_access_token"]:
            lines.append(f"    personal access token: {user['personal_access_token']}")
    return "\n".join(lines)


def _print_request(out: TextIO) -> Any:
    def show(entry: LoggedRequest) -> None:
        query = "&".join(f"{k}={v}" for k, v in entry.query.items())
        fault = f" [fault: {entry.fault}]" if entry.fault else ""
        out.write(
            f"{entry.method} {entry.path}{'?' + query if query else ''} → {entry.status} "
            f"({entry.auth}){fault}\n"
        )
        out.flush()

    return show


def serve(
    emulator: Emulator,
    *,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
    log_requests: bool = False,
    footer: Callable[[Emulator], str] | None = None,
) -> None:
    """Start, print the banner, and serve until ``stop`` is set, SIGTERM or Ctrl-C."""
    stop = stop or threading.Event()
    if log_requests:
        emulator.log.listener = _print_request(out)
    emulator.start()
    out.write(banner(emulator) + "\n")
    if footer is not None:
        out.write("\n" + footer(emulator) + "\n")
    out.write("\nServing; Ctrl-C to stop.\n")
    out.flush()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        emulator.stop()
        out.write("Emulator stopped.\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m django_seeclickfix.testing.emulator",
        description="A SeeClickFix emulator: OAuth server and API v2 for development and tests.",
    )
    add_arguments(parser)
    options = parser.parse_args(argv)
    try:
        emulator = emulator_from_options(options)
    except ValueError as err:
        parser.error(str(err))
    try:
        serve(emulator, log_requests=options.log_requests)
    except OSError as err:
        sys.stderr.write(f"Cannot serve on {options.host}:{options.port}: {err}\n")
        return 1
    return 0
