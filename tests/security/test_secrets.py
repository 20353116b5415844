"""Secrets never show: a full link → sync → refresh → comment → unlink cycle, with failures on
the way, against the emulator over real sockets, with every logger at DEBUG.

Every secret in play is a *sentinel*: the emulator's tokens and codes, the PKCE verifier, the
app's client secret and the service account's password all start with ``SNTNL``, so one search
finds any of them wherever it lands. The cycle's output is then searched: log records (message,
arguments and tracebacks), exception messages and reprs, ``repr`` of every object a caller
handles, every admin page (lists, change pages, searches), every message sent to the broker,
every row of every table (sessions decoded), and the cache.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import pickle
import secrets as real_secrets
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from django_seeclickfix import actions, oauth_app, sync, tasks, tokens
from django_seeclickfix.client import service_client
from django_seeclickfix.exceptions import SeeClickFixError
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixRevocation
from django_seeclickfix.testing.configure import emulator_settings
from tests.celery_app import app as celery_app

from .conftest import CALLBACK_URI

pytestmark = pytest.mark.django_db

PREFIX = "SNTNL"
CLIENT_SECRET = f"{PREFIX}-client-secret-{real_secrets.token_hex(8)}"
PASSWORD = f"{PREFIX}-password-{real_secrets.token_hex(8)}"
SERVICE_EMAIL = "service@city.example"
APP_ID = "scf-sentinel-app"
LOGGERS = [
    "",
    "django",
    "django.request",
    "django.db.backends",
    "django_seeclickfix",
    "allauth",
    "urllib3",
    "requests",
    "oauthlib",
    "requests_oauthlib",
    "celery",
    "kombu",
]
assert celery_app.main == "scf_tests"  # tasks are sent through its memory:// broker


class Collector(logging.Handler):
    """Every record, formatted with its arguments and traceback, while ``on``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.on = True
        self.texts: list[str] = []
        self.names: set[str] = set()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not self.on or record.name.startswith("django_seeclickfix.testing"):
            return  # the emulator stands for SeeClickFix, which knows the secrets
        self.names.add(record.name)
        self.texts.append(self.format(record) + repr(record.args) + repr(record.__dict__))


@pytest.fixture
def collector() -> Iterator[Collector]:
    handler = Collector()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True  # SQL with its parameters in django.db.backends
    try:
        yield handler
    finally:
        connection.force_debug_cursor = debug_cursor
        logging.getLogger().removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def paused(collector: Collector) -> Iterator[None]:
    """The emulator playing the user's browser on SeeClickFix's pages: not our code."""
    collector.on = False
    try:
        yield
    finally:
        collector.on = True


@pytest.fixture
def sentinels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every token, code and verifier minted from here on starts with PREFIX."""
    from allauth.socialaccount.providers.oauth2 import utils as allauth_oauth2_utils

    from django_seeclickfix.testing.emulator import oauth as emulator_oauth

    counter = itertools.count()

    def token_urlsafe(nbytes: int | None = None) -> str:
        return f"{PREFIX}{next(counter):04d}{real_secrets.token_urlsafe(nbytes)}"

    monkeypatch.setattr(
        emulator_oauth,
        "secrets",
        SimpleNamespace(token_urlsafe=token_urlsafe, token_hex=real_secrets.token_hex),
    )
    monkeypatch.setattr(allauth_oauth2_utils, "token_urlsafe", token_urlsafe)


@pytest.fixture
def scf(scf_emulator: Any, sentinels: None) -> Iterator[Any]:
    scf_emulator.register_app(APP_ID, CLIENT_SECRET, [CALLBACK_URI])
    scf_emulator.add_user("City Service", SERVICE_EMAIL, PASSWORD)
    configured = emulator_settings(
        scf_emulator,
        client_id=APP_ID,
        secret=CLIENT_SECRET,
        SERVICE_ACCOUNT={"EMAIL": SERVICE_EMAIL, "PASSWORD": PASSWORD},
        PROFILE_MAX_AGE=1,
    )
    broker_messages()  # what earlier tests left in the in-memory broker is not this test's
    with override_settings(**configured):
        yield scf_emulator


def broker_messages() -> list[dict[str, Any]]:
    """Take every message waiting in the memory broker, raw and with its body decoded."""
    from kombu.transport.memory import Channel

    taken = []
    for queue in Channel.queues.values():
        while not queue.empty():
            raw = queue.get_nowait()
            payload = raw if isinstance(raw, dict) else json.loads(raw)
            body = payload.get("body", "")
            if payload.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body).decode("utf-8", "replace")
            taken.append({**payload, "raw": json.dumps(payload), "body": body})
    return taken


def task_names(messages: list[dict[str, Any]]) -> list[str]:
    return [m["headers"]["task"] for m in messages]


def database_dump() -> list[str]:
    """Every row of every table as text; session data decoded."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows += [f"{table}: {row!r}" for row in cursor.fetchall()]
    rows += [repr(session.get_decoded()) for session in Session.objects.all()]
    return rows


def cache_dump() -> list[str]:
    cache = caches["default"]
    store = getattr(cache, "_cache", {})
    texts = []
    for key, value in list(store.items()):
        with contextlib.suppress(Exception):
            value = pickle.loads(value)
        texts.append(f"{key!r}: {value!r}")
    return texts


def admin_pages(staff: Client, secrets: list[str], collector: Collector) -> list[str]:
    """Every admin list and change page, and searches for each secret (which must find
    nothing). What the admin typed is not a leak: the search box echoing it is taken out of
    the page, and the search's own SQL (with the typed term) is not collected."""
    pages = []
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        response = staff.get(changelist)
        assert response.status_code == 200, changelist
        pages.append(response.content.decode())
        for obj in model._default_manager.all()[:5]:
            change = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
            response = staff.get(change)
            assert response.status_code == 200, change
            pages.append(response.content.decode())
        if model_admin.get_search_fields(None):  # type: ignore[arg-type]
            for secret in secrets:
                with paused(collector):
                    response = staff.get(changelist, {"q": secret})
                assert response.status_code == 200
                assert response.context["cl"].result_count == 0, (model, "found by a secret")
                pages.append(response.content.decode().replace(secret, "<query>"))
    return pages


def follow_back(client: Client, location: str) -> Any:
    parts = urlsplit(location)
    return client.get(parts.path, dict(parse_qsl(parts.query)))


def test_a_full_cycle_never_shows_a_secret(
    scf, collector, django_user_model, django_capture_on_commit_callbacks
):
    emulator = scf
    outputs: list[str] = []  # everything a person or a system could read

    def caught(call: Any) -> None:
        try:
            call()
        except SeeClickFixError as err:
            outputs.extend([str(err), repr(err), repr(err.__cause__), repr(err.__context__)])
        else:
            raise AssertionError("expected a SeeClickFix error")

    ada = django_user_model.objects.create_user("ada", password="pw")
    browser = Client()
    browser.force_login(ada)

    # 1. Link (code flow with PKCE).
    started = browser.post(reverse("seeclickfix_login"), {"process": "connect"})
    with paused(collector):
        back = emulator.complete_authorization(started["Location"], "resident")
    with django_capture_on_commit_callbacks(execute=True):
        done = follow_back(browser, back)
    assert done.status_code == 302
    outputs.append(done.content.decode() + str(done.headers))
    account = SeeClickFixAccount.objects.get()
    first_access, first_refresh = account.access_token, account.refresh_token
    assert first_access.startswith(PREFIX)
    assert first_refresh.startswith(PREFIX)
    sent = broker_messages()
    assert task_names(sent) == ["django_seeclickfix.tasks.sync_account"]

    # 2. Sync (the queued task, run here), then a sync that fails on the way.
    assert json.loads(sent[0]["body"])[0] == [account.pk]
    assert tasks.sync_account.apply(args=[account.pk]).get()["issues"] > 0
    emulator.faults.add("^/api/v2/profile/issues", "error", status=502, count=1)
    SeeClickFixAccount.objects.filter(pk=account.pk).update(profile_synced_at=None)
    caught(lambda: sync.run_sync(account.pk))  # recorded on the account, then raised

    # 3. Refresh: the token is about to expire; the next request refreshes it.
    SeeClickFixAccount.objects.filter(pk=account.pk).update(
        expires_at=timezone.now() + timedelta(seconds=30),
        token_issued_at=timezone.now() - timedelta(seconds=7170),
    )
    tasks.refresh_expiring_tokens.delay()
    assert task_names(broker_messages()) == ["django_seeclickfix.tasks.refresh_expiring_tokens"]
    account.refresh_from_db()
    tokens.get_access_token(account)
    account.refresh_from_db()
    assert account.access_token != first_access
    assert account.access_token.startswith(PREFIX)
    # A token endpoint that echoes the refresh token in its error, and one that is down.
    echo = {"error": "invalid_request", "error_description": f"bad {account.refresh_token}"}
    emulator.faults.add("^/oauth/token$", "status", status=400, body=echo, count=1)
    caught(lambda: tokens.force_refresh(account))
    emulator.faults.add("^/oauth/token$", "error", status=503, count=1)
    caught(lambda: tokens.force_refresh(account))

    # 4. Comment as the user, from the task; then a refused one.
    issue_id = emulator.state.issues_by_reporter[account.user_scf_id][0].id
    with django_capture_on_commit_callbacks(execute=True):
        action = actions.queue_comment(ada, issue_id, "Still there", request_id="c-1")
    sent = broker_messages()
    assert task_names(sent) == ["django_seeclickfix.tasks.add_comment"]
    assert tasks.add_comment.apply(args=[action.pk]).get()["status"] == "succeeded"
    client = tokens.client_for_user(ada)
    outputs += [repr(client), repr(client.auth), repr(client.session), repr(account)]
    outputs += [repr(client.auth.credential()), repr(oauth_app.oauth_client()), str(account)]
    caught(lambda: client.add_comment(99999999, "No such issue"))
    emulator.faults.add("^/api/v2/issues", "reset", count=1)
    caught(lambda: client.list_comments(issue_id))

    # 5. The service account over legacy Basic auth, and its failures.
    service = service_client()
    assert service.get_profile().email == SERVICE_EMAIL
    outputs += [repr(service), repr(service.auth)]
    emulator.faults.add("^/api/v2/profile$", "status", status=401, body={"x": 1}, count=1)
    caught(service.get_profile)

    # 6. The admin, while the link is live.
    staff = Client()
    staff.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    live = [account.access_token, account.refresh_token]
    outputs += admin_pages(staff, live, collector)
    assert any(str(account.user_scf_id) in page for page in outputs)  # the pages showed it

    # 7. Unlink: tokens deleted now, their revocation owed in a row, queued by id only.
    with django_capture_on_commit_callbacks(execute=True):
        gone = browser.post(reverse("seeclickfix:disconnect"))
    assert gone.status_code == 302
    sent = broker_messages()
    assert task_names(sent) == ["django_seeclickfix.tasks.revoke_tokens"]
    revoke_args = json.loads(sent[0]["body"])[0]
    owed = SeeClickFixRevocation.objects.get(pk=revoke_args[0])
    outputs += [repr(owed), str(owed)]
    outputs += admin_pages(staff, live, collector)  # the revocation, while it is owed
    tasks.revoke_tokens.apply(args=revoke_args).get()
    assert emulator.token_state(live[0]).startswith("revoked")
    outputs += [m["raw"] + m["body"] for m in sent]
    outputs += admin_pages(staff, live, collector)

    # What was produced must be real before it can be trusted to be clean.
    assert {"urllib3.connectionpool", "django.db.backends", "django_seeclickfix.client"} <= (
        collector.names
    )
    dump = database_dump()
    assert any("seeclickfix_seeclickfixaccount" in row for row in dump)
    everything = collector.texts + outputs + dump + cache_dump()
    secrets = [CLIENT_SECRET, PASSWORD, first_access, first_refresh, *live]
    basic = base64.b64encode(f"{SERVICE_EMAIL}:{PASSWORD}".encode()).decode()
    leaks = [
        text
        for text in everything
        if PREFIX in text or basic in text or any(s in text for s in secrets)
    ]
    assert not leaks, leaks[0][:2000]


def test_the_leak_search_finds_a_planted_secret(scf, collector, django_user_model):
    """The searches above can fail: a token written to a log, a column or the cache is found."""
    user = django_user_model.objects.create_user("eve")
    token = f"{PREFIX}-planted"
    account = SeeClickFixAccount.objects.create(
        user=user, environment="emulator", user_scf_id=9, access_token=token
    )
    logging.getLogger("django_seeclickfix.client").debug("oops %s", token)
    assert any(PREFIX in text for text in collector.texts)
    assert not any(PREFIX in row for row in database_dump())  # encrypted at rest
    SeeClickFixAccount.objects.filter(pk=account.pk).update(last_sync_error=token)
    assert any(PREFIX in row for row in database_dump())
    caches["default"].set("k", {"nested": token})
    assert any(PREFIX in text for text in cache_dump())
    tasks.revoke_tokens.delay(token)
    assert any(PREFIX in m["body"] for m in broker_messages())
