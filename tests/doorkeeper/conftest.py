"""Fixtures for the tests against the real Doorkeeper: a server per regime (chosen with
``@pytest.mark.regime(REFRESH="off", ...)``, the DK_* variables of server.rb), and a site whose
settings point at it with an application and a user of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from django_seeclickfix.testing.configure import emulator_settings
from tests.servers import DoorkeeperServer

from .doorkeeper import Browser, Doorkeeper, DoorkeeperApp, DoorkeeperUser

CALLBACK_URI = "http://testserver/accounts/seeclickfix/login/callback/"
KEY = "Dq6gRjFzc2x5yM0QvQ1m0V0Q2lO0l6kK1s8P3n0Y7dE="
ENVIRONMENT = "doorkeeper"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "regime(**dk_variables): the Doorkeeper regime a test runs against"
    )
    config.addinivalue_line("markers", "site(**settings): SEECLICKFIX settings of the site")


@pytest.fixture
def doorkeeper(
    request: pytest.FixtureRequest, doorkeeper_servers: Callable[..., DoorkeeperServer]
) -> Doorkeeper:
    marker = request.node.get_closest_marker("regime")
    return Doorkeeper(doorkeeper_servers(**(marker.kwargs if marker else {})))


@dataclass
class Site:
    """The site under test, registered at Doorkeeper, and one of its users known there."""

    doorkeeper: Doorkeeper
    app: DoorkeeperApp
    user: DoorkeeperUser
    browser: Browser


def site_settings(
    doorkeeper: Doorkeeper,
    app: DoorkeeperApp,
    environment: str = ENVIRONMENT,
    **extra: object,
) -> dict[str, object]:
    return emulator_settings(
        doorkeeper.url,
        client_id=app.uid,
        secret=app.secret,
        environment=environment,
        TOKEN_KEYS=[KEY],
        SITE_URL="http://testserver",
        RATE_LIMIT_REQUESTS=100000,
        **extra,
    )


@pytest.fixture
def site(request: pytest.FixtureRequest, doorkeeper: Doorkeeper) -> Iterator[Site]:
    marker = request.node.get_closest_marker("site")
    extra = marker.kwargs if marker else {}
    app = doorkeeper.create_app(CALLBACK_URI)
    user = doorkeeper.create_user()
    cache.clear()
    with override_settings(**site_settings(doorkeeper, app, **extra)):
        yield Site(doorkeeper, app, user, Browser(doorkeeper, user))
    cache.clear()


def start(client: Client, process: str = "connect") -> str:
    """Starts the flow at the site; returns the authorize URL it sends the browser to."""
    response = client.post(reverse("seeclickfix_login"), {"process": process})
    assert response.status_code == 302, response.content[:500]
    location: str = response["Location"]
    return location


def follow_back(client: Client, location: str) -> Any:
    """The browser arriving back at the site from Doorkeeper."""
    parts = urlsplit(location)
    assert parts.netloc == "testserver", location
    return client.get(parts.path, dict(parse_qsl(parts.query)))


def connect(client: Client, site: Site, process: str = "connect") -> Any:
    """The whole flow: start at the site, sign in and approve at Doorkeeper, come back."""
    return follow_back(client, site.browser.authorize(start(client, process)))
