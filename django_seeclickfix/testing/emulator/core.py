"""``Emulator``: the in-process handle tests use. Thread-safe; one object per server."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

from . import seeds
from .app import Application
from .clock import Clock
from .config import Behaviour, InvalidTokenBehaviour, Quirks
from .control import ControlAPI
from .faults import Faults
from .http import HTTPServer
from .models import CODE_APP_ID, CODE_APP_SECRET, IMPLICIT_APP_ID, App, Comment, Issue, User
from .oauth import IssuedToken, OAuthServer
from .ratelimit import RateLimiter, Scope
from .requestlog import LoggedRequest, RequestLog
from .shapes import Shapes
from .state import State

# The callback (code flow) and the relay page (implicit flow) on Django's test client host and
# on runserver's default address: both built-in apps accept them all.
DEFAULT_REDIRECT_URIS = tuple(
    f"http://{host}/accounts/seeclickfix/login/{page}/"
    for host in ("testserver", "127.0.0.1:8000", "localhost:8000")
    for page in ("callback", "relay")
)
DEFAULT_RATE_LIMIT = (20, 60.0)

UserRef = User | int | str


class AuthorizationFailed(RuntimeError):
    """``complete_authorization`` ended on an error page instead of a redirect."""


def parse_rate_limit(value: str | None) -> tuple[int, float] | None:
    """``"20/60"`` → (20, 60.0); ``"off"``/``None`` → None."""
    if value is None or value.strip().lower() in ("off", "none", "0", ""):
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", value)
    if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
        raise ValueError(
            f"rate limit must look like 20/60 (requests/seconds) or off, got {value!r}"
        )
    return int(match.group(1)), float(match.group(2))


@dataclass
class EmulatorConfig:
    """What ``reset()`` returns to. Set once, when the emulator is made."""

    seed: str = "demo"
    rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT
    rate_limit_scope: Scope = "address"
    abuse_after: int | None = None
    token_regime: str = "refresh"
    rotate_refresh_tokens: bool = True
    access_token_lifetime: int = 7200
    redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS
    apps: tuple[Mapping[str, Any], ...] = ()
    behaviour: dict[str, Any] = field(default_factory=dict)


class Emulator:
    """A SeeClickFix emulator: OAuth server and API v2 over real HTTP, plus controls.

    ``Emulator(port=0).start()`` serves on a free port; ``.url`` is the host root (what the
    app's ``SEECLICKFIX["BASE_URL"]`` wants) and ``.api_url`` the API root.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str = "demo",
        rate_limit: tuple[int, float] | str | None = DEFAULT_RATE_LIMIT,
        rate_limit_scope: Scope = "address",
        abuse_after: int | None = None,
        invalid_token_behaviour: InvalidTokenBehaviour = "401",
        moderate_comments: bool = False,
        moderate_issues: bool = False,
        pkce: bool = True,
        token_regime: str = "refresh",
        rotate_refresh_tokens: bool = True,
        access_token_lifetime: int = 7200,
        redirect_uris: Iterable[str] = (),
        apps: Iterable[Mapping[str, Any]] = (),
        quirks: Mapping[str, bool] | None = None,
        log_size: int = 10_000,
        public_host: str | None = None,
    ) -> None:
        if isinstance(rate_limit, str):
            rate_limit = parse_rate_limit(rate_limit)
        behaviour = {
            "invalid_token_behaviour": invalid_token_behaviour,
            "moderate_comments": moderate_comments,
            "moderate_issues": moderate_issues,
            "pkce": pkce,
            "quirks": dict(quirks or {}),
        }
        self.config = EmulatorConfig(
            seed=seed,
            rate_limit=rate_limit,
            rate_limit_scope=rate_limit_scope,
            abuse_after=abuse_after,
            token_regime=token_regime,
            rotate_refresh_tokens=rotate_refresh_tokens,
            access_token_lifetime=access_token_lifetime,
            redirect_uris=tuple(dict.fromkeys([*DEFAULT_REDIRECT_URIS, *redirect_uris])),
            apps=tuple(apps),
            behaviour=behaviour,
        )
        self.clock = Clock()
        self.state = State(self.clock)
        self.behaviour = Behaviour()
        self.limiter = RateLimiter(None)
        self.faults = Faults()
        self.log = RequestLog(log_size)
        self.oauth = OAuthServer(self.state, self.behaviour, self.clock)
        self.control = ControlAPI(self)
        self.application = Application(self)
        self.server = HTTPServer(self.application, host, port)
        self.public_host = public_host
        self.seed_name = seed
        self.demo_users: dict[str, User] = {}
        self.personal_tokens: dict[int, str] = {}
        self.reset()

    # lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Emulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        """The host root, e.g. ``http://127.0.0.1:8001`` (no trailing slash)."""
        host = self.public_host or self.server.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104  (a bind-all address is not a URL host)
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v2"

    def __repr__(self) -> str:
        state = "running" if self.server.running else "stopped"
        return f"<Emulator {self.url if self.server.running else ''} {state} seed={self.seed_name}>"

    # state -------------------------------------------------------------------------------------

    def reset(self, seed: str | None = None) -> None:
        """Back to a freshly seeded state with the construction-time settings: data, apps,
        tokens, sessions, faults, rate limit, behaviour switches, request log and clock."""
        config = self.config
        name = seed if seed is not None else config.seed
        with self.state.lock:
            self.clock.reset()
            self.state.clear()
            personal = seeds.seed(self.state, name)
            self.seed_name = name
            self.behaviour.reset()
            self.behaviour.update(
                **{**config.behaviour, "quirks": dict(config.behaviour["quirks"])}
            )
            requests, period = config.rate_limit or (None, 60.0)
            self.limiter.configure(requests, period, config.rate_limit_scope, config.abuse_after)
            self.faults.clear()
            self.log.clear()
            defaults = {
                "token_regime": config.token_regime,
                "rotate_refresh_tokens": config.rotate_refresh_tokens,
                "access_token_lifetime": config.access_token_lifetime,
            }
            self.oauth.register_app(
                CODE_APP_ID,
                CODE_APP_SECRET,
                config.redirect_uris,
                name="Emulator code-flow app",
                **defaults,  # type: ignore[arg-type]
            )
            # The library's implicit flow lands on its relay page, next to the callback.
            relays = [u.replace("/login/callback/", "/login/relay/") for u in config.redirect_uris]
            self.oauth.register_app(
                IMPLICIT_APP_ID,
                None,
                tuple(dict.fromkeys([*config.redirect_uris, *relays])),
                name="Emulator implicit-flow app",
                **defaults,  # type: ignore[arg-type]
            )
            for app in config.apps:
                self.oauth.register_app(**app)
            self.demo_users = {}
            if name == "demo":
                for demo in (seeds.RESIDENT, seeds.NEWCOMER, seeds.OFFICIAL):
                    self.demo_users[demo.key] = self.state.user(demo.email)
            self.personal_tokens = {}
            for user_id, value in personal:
                self.oauth.personal_access_token(self.state.users[user_id], value=value)
                self.personal_tokens[user_id] = value

    @property
    def code_app(self) -> App:
        return self.state.apps[CODE_APP_ID]

    @property
    def implicit_app(self) -> App:
        return self.state.apps[IMPLICIT_APP_ID]

    def add_redirect_uri(self, uri: str, client_id: str = CODE_APP_ID) -> None:
        """Allow one more redirect URI for an app until the next ``reset()`` (live servers
        listen on random ports)."""
        with self.state.lock:
            app = self.app(client_id)
            if uri not in app.redirect_uris:
                app.redirect_uris.append(uri)

    def app(self, client_id: str) -> App:
        found = self.state.apps.get(client_id)
        if found is None:
            raise LookupError(f"no emulated application {client_id!r}")
        return found

    def register_app(
        self,
        client_id: str,
        secret: str | None,
        redirect_uris: Sequence[str],
        *,
        name: str | None = None,
        token_regime: str = "refresh",
        rotate_refresh_tokens: bool = True,
        access_token_lifetime: int = 7200,
        skip_authorization: bool = False,
        refresh_token_revoked_on_use: bool = False,
        confidential: bool | None = None,
    ) -> App:
        """Register (or replace) an OAuth application until the next ``reset()``."""
        return self.oauth.register_app(
            client_id,
            secret,
            list(redirect_uris),
            name=name,
            token_regime=token_regime,
            rotate_refresh_tokens=rotate_refresh_tokens,
            access_token_lifetime=access_token_lifetime,
            skip_authorization=skip_authorization,
            refresh_token_revoked_on_use=refresh_token_revoked_on_use,
            confidential=confidential,
        )

    # people and issues -------------------------------------------------------------------------

    def user(self, ref: UserRef) -> User:
        """A user by object, id, email, or demo key (``resident``, ``newcomer``, ``official``)."""
        if isinstance(ref, str) and ref in self.demo_users:
            return self.demo_users[ref]
        return self.state.user(ref)

    @property
    def users(self) -> list[User]:
        with self.state.lock:
            return list(self.state.users.values())

    def add_user(
        self,
        name: str,
        email: str,
        password: str = "password",
        *,
        can_acknowledge: bool = False,
        **fields: Any,
    ) -> User:
        if can_acknowledge:
            fields.setdefault("role", "Verified Official")
        return self.state.add_user(name, email, password, can_acknowledge=can_acknowledge, **fields)

    def generate_users(self, count: int, *, prefix: str = "user") -> list[User]:
        """``count`` residents (email ``<prefix><id>@example.com``, password ``password-<id>``)."""
        return seeds.generate_users(self.state, count, prefix=prefix)

    def add_issue(self, reporter: UserRef, **fields: Any) -> Issue:
        """A new issue by ``reporter``. Fields: summary, description, status, lat, lng, address,
        created_at, updated_at, assignee, rating, request_type_id, answers, has_media, id,
        anonymous (listed with the placeholder reporter ``{"id": 0, …}``)."""
        return self.state.add_issue(self.user(reporter), **fields)

    def generate_issues(
        self,
        reporter: UserRef,
        count: int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        place: str = "new-haven",
    ) -> list[Issue]:
        """``count`` issues by ``reporter`` spread over years (deterministic; no comments)."""
        return seeds.generate_issues(
            self.state,
            self.user(reporter),
            count,
            start=start or seeds.SEED_START,
            end=end or seeds.SEED_END,
            place=place,
        )

    def issue(self, issue_id: int) -> Issue:
        return self.state.issue(issue_id)

    def update_issue(self, issue_id: int, **changes: Any) -> Issue:
        """Change an issue as if it changed on SeeClickFix; ``updated_at`` becomes now."""
        return self.state.update_issue(issue_id, **changes)

    def delete_issue(self, issue_id: int) -> None:
        self.state.delete_issue(issue_id)

    def add_comment(self, issue_id: int, user: UserRef, text: str) -> Comment:
        with self.state.lock:
            return self.state.add_comment(self.state.issue(issue_id), self.user(user), text)

    def issue_json(self, issue_id: int, *, viewer: UserRef | None = None) -> dict[str, Any]:
        """The issue as ``GET /issues/<id>?details=true`` would show it."""
        with self.state.lock:
            who = self.user(viewer) if viewer is not None else None
            return Shapes(self.state, self.behaviour, self.url).issue(
                self.state.issue(issue_id), who, True
            )

    # tokens ------------------------------------------------------------------------------------

    def issue_token(self, user: UserRef, client_id: str = CODE_APP_ID) -> IssuedToken:
        """A token as if ``user`` had completed the code flow for ``client_id`` just now."""
        token = self.oauth.mint(self.app(client_id), self.user(user))
        return self.oauth.issued(token)

    def issue_code(
        self,
        user: UserRef,
        client_id: str = CODE_APP_ID,
        redirect_uri: str | None = None,
        *,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        """An authorization code as if ``user`` had approved ``client_id`` (10-minute life)."""
        app = self.app(client_id)
        return self.oauth.issue_code(
            app,
            self.user(user),
            redirect_uri or app.redirect_uris[0],
            code_challenge,
            code_challenge_method,
        )

    def personal_access_token(self, user: UserRef, *, expires_in: int | None = 365 * 86400) -> str:
        """A new CivicPlus-style personal access token for ``user`` (at most 20 live)."""
        return self.oauth.personal_access_token(self.user(user), expires_in=expires_in).access_token

    def revoke(self, token: str) -> bool:
        """Revoke an access, refresh or personal token. False if it is unknown."""
        return self.oauth.revoke(token)

    def deauthorize(self, user: UserRef, client_id: str = CODE_APP_ID) -> int:
        """The user removes the app on SeeClickFix's side: every token it holds dies."""
        return self.oauth.deauthorize(self.user(user), client_id)

    def token_state(self, token: str) -> str:
        """``active``, ``expired``, ``revoked:<reason>`` or ``unknown`` (for assertions)."""
        with self.state.lock:
            found = self.state.tokens_by_access.get(token) or self.state.tokens_by_refresh.get(
                token
            )
            if found is None:
                return "unknown"
            if found.revoked_at is not None:
                return f"revoked:{found.revoked_reason}"
            return "expired" if found.expired(self.clock.time()) else "active"

    # clock, limits, behaviour ------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (token expiry, code lifetime, rate windows)."""
        self.clock.advance(seconds)

    def set_rate_limit(
        self,
        requests: int | None,
        period: float = 60.0,
        scope: Scope = "address",
        abuse_after: int | None = None,
    ) -> None:
        """``requests`` per ``period`` seconds per client address (or per token); None: off."""
        with self.state.lock:
            self.limiter.configure(requests, period, scope, abuse_after)

    @property
    def invalid_token_behaviour(self) -> str:
        return self.behaviour.invalid_token_behaviour

    @invalid_token_behaviour.setter
    def invalid_token_behaviour(self, value: str) -> None:
        self.configure(invalid_token_behaviour=value)

    def set_moderation(self, *, comments: bool | None = None, issues: bool | None = None) -> None:
        changes: dict[str, Any] = {}
        if comments is not None:
            changes["moderate_comments"] = comments
        if issues is not None:
            changes["moderate_issues"] = issues
        self.configure(**changes)

    def set_quirks(self, **quirks: bool) -> None:
        """Switch quirks: string_null_pagination, rating_as_string, utc_timestamps,
        doubled_api_prefix, sample_shapes (the documented samples' keys)."""
        self.configure(quirks=quirks)

    @property
    def quirks(self) -> Quirks:
        return self.behaviour.quirks

    def configure(self, **changes: Any) -> None:
        """Change behaviour switches (see ``config.Behaviour``) until the next ``reset()``."""
        with self.state.lock:
            self.behaviour.update(**changes)

    # inspection --------------------------------------------------------------------------------

    def requests(
        self, path: str | None = None, *, method: str | None = None, since: int = 0
    ) -> list[LoggedRequest]:
        """The request log (secrets redacted), oldest first; ``path`` is a prefix."""
        return self.log.entries(path=path, method=method, since=since)

    @property
    def counters(self) -> dict[str, int]:
        return self.log.counters()

    def token_requests(self, grant_type: str | None = None) -> int:
        """How many times the token endpoint was called (for one grant type, or in all)."""
        key = "oauth.token" if grant_type is None else f"oauth.token.{grant_type}"
        return self.log.counters().get(key, 0)

    def clear_log(self) -> None:
        self.log.clear()

    def describe(self) -> dict[str, Any]:
        """What the start banner and ``GET /_emulator/state`` show (secrets included: it is a
        test server and developers need them to configure clients)."""
        with self.state.lock:
            return {
                "url": self.url,
                "api_url": self.api_url,
                "seed": self.seed_name,
                "apps": [app.describe() for app in self.state.apps.values()],
                "users": [
                    {
                        "id": u.id,
                        "name": u.name,
                        "email": u.email,
                        "password": u.password,
                        "can_acknowledge": u.can_acknowledge,
                        "reported_issues": len(self.state.issues_by_reporter.get(u.id, [])),
                        "personal_access_token": self.personal_tokens.get(u.id),
                    }
                    for u in self.state.users.values()
                ],
                "issues": len(self.state.issues),
                "behaviour": self.behaviour.describe(),
                "rate_limit": self.limiter.describe(),
                "faults": [f.describe() for f in self.faults.list()],
                "clock_offset": self.clock.offset,
            }

    # driving the browser flow ------------------------------------------------------------------

    def complete_authorization(
        self,
        authorize_url: str,
        user: UserRef,
        *,
        password: str | None = None,
        approve: bool = True,
        session: Any = None,
    ) -> str:
        """Play the browser on the emulator's pages: open ``authorize_url``, sign in as
        ``user``, approve (or deny), and return the URL SeeClickFix redirects back to (with
        ``code``/``state`` in its query, or the token in its fragment for the implicit flow).

        Pass a ``requests.Session`` as ``session`` to stay signed in across calls.
        """
        import requests  # deferred: the emulator server needs only the standard library

        who = self.user(user)
        browser = session or requests.Session()
        browser.headers.setdefault("User-Agent", "scf-emulator-browser/1.0")
        response = browser.get(authorize_url, allow_redirects=False, timeout=10)
        if response.status_code == 302 and "/users/sign_in" in response.headers["Location"]:
            page = browser.get(urljoin(authorize_url, response.headers["Location"]), timeout=10)
            fields = _hidden_fields(page.text)
            fields.update({"email": who.email, "password": password or who.password})
            response = browser.post(
                urljoin(authorize_url, "/users/sign_in"),
                data=fields,
                allow_redirects=False,
                timeout=10,
            )
            if response.status_code != 302:
                raise AuthorizationFailed("sign-in was refused (wrong password?)")
            response = browser.get(
                urljoin(authorize_url, response.headers["Location"]),
                allow_redirects=False,
                timeout=10,
            )
        if response.status_code == 200 and "Authorization required" in response.text:
            forms = re.findall(r"<form[^>]*>(.*?)</form>", response.text, re.S)
            chosen = next(f for f in forms if f"value='{'approve' if approve else 'deny'}'" in f)
            response = browser.post(
                urljoin(authorize_url, "/oauth/authorize"),
                data=_hidden_fields(chosen),
                allow_redirects=False,
                timeout=10,
            )
        if response.status_code not in (301, 302, 303):
            error = re.search(r"data-error='([^']*)'", response.text)
            raise AuthorizationFailed(
                f"the emulator answered {response.status_code}"
                + (f" ({error.group(1)})" if error else "")
            )
        location = str(response.headers["Location"])
        if not urlsplit(location).scheme:
            location = urljoin(authorize_url, location)
        return location


def _hidden_fields(html: str) -> dict[str, str]:
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(r"<input type='hidden' name='([^']*)' value='([^']*)'>", html)
    }
