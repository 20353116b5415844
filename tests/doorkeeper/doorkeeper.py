"""Driving the real Doorkeeper (tests/doorkeeper/server.rb): its test-only control API, and a
user's browser at it (sign-in, consent, the authorized-applications page) over real HTTP."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from tests.servers import DoorkeeperServer

TIMEOUT = 10
_serial = itertools.count(1)


@dataclass(frozen=True)
class DoorkeeperUser:
    id: int
    email: str
    password: str
    name: str


@dataclass(frozen=True)
class DoorkeeperApp:
    id: int
    uid: str
    secret: str


class Forms(HTMLParser):
    """The forms of a page: [(action, method, {name: value})], hidden and submit fields."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), values.get("method", "get"), {}))
        elif tag == "input" and self.forms and "name" in values:
            self.forms[-1][2][values["name"]] = values.get("value", "")


class Doorkeeper:
    """One running regime of the server, and what the tests ask of it."""

    def __init__(self, server: DoorkeeperServer) -> None:
        self.server = server
        self.url = server.url
        self.regime: dict[str, Any] = self._get("/_control/regime").json()

    def _get(self, path: str, **params: Any) -> requests.Response:
        response = requests.get(self.url + path, params=params, timeout=TIMEOUT)
        response.raise_for_status()
        return response

    def _post(self, path: str, **data: Any) -> requests.Response:
        response = requests.post(self.url + path, data=data, timeout=TIMEOUT)
        response.raise_for_status()
        return response

    def create_user(self, name: str = "Rita Resident") -> DoorkeeperUser:
        n = next(_serial)
        email, password = f"user{n}@scf.example", f"pw-{n}"
        created = self._post("/_control/users", email=email, password=password, name=name)
        return DoorkeeperUser(created.json()["id"], email, password, name)

    def create_app(self, redirect_uri: str, *, confidential: bool = True) -> DoorkeeperApp:
        created = self._post(
            "/_control/applications",
            name=f"Civic site {next(_serial)}",
            redirect_uri=redirect_uri,
            confidential="true" if confidential else "false",
        ).json()
        return DoorkeeperApp(created["id"], created["uid"], created["secret"])

    def token_rows(self, user: DoorkeeperUser) -> list[dict[str, Any]]:
        """Every access-token row of ``user``, as Doorkeeper sees it (revoked, expired, ...)."""
        rows: list[dict[str, Any]] = self._get("/_control/tokens", user_id=user.id).json()
        return rows

    def age_tokens(self, user: DoorkeeperUser, seconds: int) -> None:
        """Moves ``user``'s tokens ``seconds`` into the past, so they expire without a wait."""
        self._post("/_control/age", user_id=user.id, seconds=seconds)

    def profile_id(self, access_token: str) -> int | None:
        """Whom ``/api/v2/profile`` answers as for this token (None: nobody)."""
        response = requests.get(
            self.url + "/api/v2/profile",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        found: int | None = response.json()["id"]
        return found

    def refresh(self, app: DoorkeeperApp, refresh_token: str) -> requests.Response:
        return requests.post(
            self.url + "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": app.uid,
                "client_secret": app.secret,
            },
            timeout=TIMEOUT,
        )

    def requests_seen(self, method: str, path: str) -> int:
        """How many ``method path`` requests reached this server (from its Rails log)."""
        assert self.server.dir is not None
        log = (self.server.dir / "log" / "rails.log").read_text(errors="replace")
        return log.count(f'Started {method} "{path}"')

    def usable_credentials(self, user: DoorkeeperUser, app: DoorkeeperApp) -> list[str]:
        """What of ``user``'s grant still works at Doorkeeper, tried at its real endpoints: an
        access token ``/profile`` answers as the user for, a refresh token that mints tokens."""
        usable = []
        for row in self.token_rows(user):
            if self.profile_id(row["token"]) == user.id:
                usable.append(f"access token of row {row['id']}")
            if row["refresh_token"] and self.refresh(app, row["refresh_token"]).status_code == 200:
                usable.append(f"refresh token of row {row['id']}")
        return usable


class Browser:
    """A user's browser at Doorkeeper: cookies, forms, and redirects followed while they stay on
    Doorkeeper's host (the way back to the site is returned, for the Django test client)."""

    def __init__(self, doorkeeper: Doorkeeper, user: DoorkeeperUser) -> None:
        self.doorkeeper = doorkeeper
        self.user = user
        self.session = requests.Session()
        self.host = urlsplit(doorkeeper.url).netloc

    def _follow(self, response: requests.Response) -> requests.Response | str:
        """Follows redirects on Doorkeeper's host; a redirect elsewhere is returned as its URL."""
        for _ in range(10):
            if response.status_code not in (301, 302, 303):
                return response
            location = urljoin(response.url, response.headers["Location"])
            if urlsplit(location).netloc != self.host:
                return location
            response = self.session.get(location, allow_redirects=False, timeout=TIMEOUT)
        raise AssertionError(f"redirect loop at Doorkeeper: {response.url}")

    def _post_form(
        self, page: requests.Response, action: str, fields: dict[str, str]
    ) -> requests.Response | str:
        response = self.session.post(
            urljoin(page.url, action), data=fields, allow_redirects=False, timeout=TIMEOUT
        )
        return self._follow(response)

    def open(self, url: str) -> requests.Response | str:
        """Opens ``url`` (signing in when Doorkeeper asks): a page at Doorkeeper, or the URL of
        the redirect that leaves it."""
        response = self._follow(self.session.get(url, allow_redirects=False, timeout=TIMEOUT))
        if isinstance(response, requests.Response) and urlsplit(response.url).path == (
            "/users/sign_in"
        ):
            fields = Forms(response.text).forms[0][2]
            fields.update(email=self.user.email, password=self.user.password)
            response = self._post_form(response, "/users/sign_in", fields)
        return response

    def authorize(self, authorize_url: str, *, approve: bool = True) -> str:
        """Opens the site's authorize URL, approves (or denies) on Doorkeeper's consent page, and
        returns where Doorkeeper sends the browser back to. An authorization Doorkeeper grants
        without asking (a reused one) comes back without the page."""
        page = self.open(authorize_url)
        if isinstance(page, str):
            return page
        for _action, _method, fields in Forms(page.text).forms:
            if ("_method" in fields) != approve:
                back = self._post_form(page, "/oauth/authorize", fields)
                assert isinstance(back, str), f"Doorkeeper did not redirect: {back.text[:500]}"
                return back
        raise AssertionError(f"no consent form on {page.url}: {page.text[:500]}")

    def authorized_applications(self) -> list[str]:
        """The application names Doorkeeper's own authorized-applications page lists."""
        page = self._page(self.open(self.doorkeeper.url + "/oauth/authorized_applications"))
        return re.findall(r"<td>([^<]*)</td>\s*<td>\d", page.text)

    def revoke_all_applications(self) -> None:
        """Presses "Revoke" for every application on the authorized-applications page."""
        page = self._page(self.open(self.doorkeeper.url + "/oauth/authorized_applications"))
        for action, _method, fields in Forms(page.text).forms:
            if fields.get("_method") == "delete":
                self._page(self._post_form(page, action, fields))

    @staticmethod
    def _page(answer: requests.Response | str) -> requests.Response:
        """``answer`` as a page Doorkeeper served (not a redirect away, not an error)."""
        if isinstance(answer, str) or answer.status_code != 200:
            raise AssertionError(f"expected a page at Doorkeeper, got {answer}")
        return answer
