"""The whole flow against the SeeClickFix emulator over real HTTP (PostgreSQL pass)."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from django_seeclickfix import tokens
from django_seeclickfix.exceptions import ReauthRequired
from django_seeclickfix.models import SeeClickFixAccount
from django_seeclickfix.testing.configure import emulator_settings

from .conftest import RELAY_URI, start

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def emulator(scf_emulator):
    with override_settings(**emulator_settings(scf_emulator)):
        yield scf_emulator


@pytest.fixture
def implicit_emulator(scf_emulator):
    scf_emulator.register_app("scf-emulator-implicit", None, [RELAY_URI])
    with override_settings(
        **emulator_settings(scf_emulator, client_id="scf-emulator-implicit", secret=None)
    ):
        yield scf_emulator


def follow_back(client, location):
    parts = urlsplit(location)
    assert parts.netloc == "testserver"
    return client.get(parts.path, dict(parse_qsl(parts.query)))


def authorize_at_emulator(client, emulator, who, **start_args):
    """Start the flow here, approve it at the emulator as ``who``, follow the way back."""
    response, _ = start(client, **start_args)
    return follow_back(client, emulator.complete_authorization(response["Location"], who))


@pytest.mark.django_db
def test_code_flow_with_pkce_against_the_emulator(client, ada, emulator):
    client.force_login(ada)
    response, _ = start(client, next_url="/linked/")
    back = emulator.complete_authorization(response["Location"], "resident")
    done = follow_back(client, back)
    assert done.status_code == 302
    assert done["Location"] == "/linked/"
    rita = emulator.user("resident")
    account = SeeClickFixAccount.objects.get()
    assert account.user_scf_id == rita.id
    assert account.environment == "emulator"
    assert account.profile["name"] == rita.name
    assert emulator.token_state(account.access_token) == "active"
    assert account.refresh_token  # the emulator's default regime issues one
    (exchange,) = emulator.requests("/oauth/token")
    assert exchange.grant_type == "authorization_code"
    # The uid carries the environment: emulator user 7 is not production user 7.
    assert account.social_account.uid == f"{rita.id}@emulator"


@pytest.mark.django_db
def test_implicit_flow_against_the_emulator(client, ada, implicit_emulator):
    emulator = implicit_emulator
    client.force_login(ada)
    response, params = start(client)
    assert params["response_type"] == "token"
    back = emulator.complete_authorization(response["Location"], "resident")
    parts = urlsplit(back)
    assert parts.path == reverse("seeclickfix_relay")
    fragment = dict(parse_qsl(parts.fragment))
    assert "access_token" in fragment
    page = client.get(parts.path)
    assert page.status_code == 200
    done = client.post(parts.path, fragment)  # what the relay page's script posts
    assert done.status_code == 302
    account = SeeClickFixAccount.objects.get()
    assert account.access_token == fragment["access_token"]
    assert account.user_scf_id == emulator.user("resident").id
    assert emulator.token_requests() == 0


@pytest.mark.django_db
def test_cancel_at_the_emulator_links_nothing(client, ada, emulator):
    client.force_login(ada)
    response, _ = start(client)
    back = emulator.complete_authorization(response["Location"], "resident", approve=False)
    assert "error=access_denied" in back
    done = follow_back(client, back)
    assert done.status_code == 200
    assert "Nothing was connected." in done.text
    assert emulator.token_requests() == 0
    assert not SeeClickFixAccount.objects.exists()


@pytest.mark.django_db
def test_disconnect_revokes_at_the_emulator(
    client, ada, emulator, django_capture_on_commit_callbacks, eager_tasks
):
    client.force_login(ada)
    authorize_at_emulator(client, emulator, "resident")
    account = SeeClickFixAccount.objects.get()
    access, refresh = account.access_token, account.refresh_token
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("seeclickfix:disconnect"))
    assert emulator.token_state(access).startswith("revoked")
    assert emulator.token_state(refresh).startswith("revoked")
    assert SeeClickFixAccount.objects.get().access_token is None


@pytest.mark.django_db
def test_disconnect_of_a_token_the_emulator_no_longer_knows(
    client, ada, emulator, django_capture_on_commit_callbacks, eager_tasks
):
    client.force_login(ada)
    authorize_at_emulator(client, emulator, "resident")
    emulator.deauthorize("resident")  # the user removed the app on SeeClickFix's side
    emulator.clear_log()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("seeclickfix:disconnect"))
    revokes = emulator.requests("/oauth/revoke")
    assert [r.status for r in revokes] == [200, 200]  # answered 200: done, no retries


@pytest.mark.django_db
def test_refresh_refused_after_deauthorisation_needs_reauth(
    ada, emulator, django_capture_on_commit_callbacks
):
    issued = emulator.issue_token("resident")
    account = SeeClickFixAccount.objects.create(
        user=ada,
        environment="emulator",
        user_scf_id=emulator.user("resident").id,
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_at=timezone.now() + timedelta(seconds=30),
    )
    emulator.deauthorize("resident")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReauthRequired):
        tokens.get_access_token(account)
    assert SeeClickFixAccount.objects.get().status == "reauth_required"


@pytest.mark.django_db(transaction=True)
def test_sixteen_threads_cause_exactly_one_refresh(ada, emulator):
    """16 workers ask at once for a token about to expire: one refresh request reaches
    SeeClickFix, every worker gets the new token, and with rotation on the old refresh token is
    never presented twice (reuse would revoke the whole family at the emulator)."""
    issued = emulator.issue_token("resident")
    account = SeeClickFixAccount.objects.create(
        user=ada,
        environment="emulator",
        user_scf_id=emulator.user("resident").id,
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_at=timezone.now() + timedelta(seconds=60),  # inside the 300 s margin
    )
    # A slow token endpoint keeps the refresh in flight while the other workers pile up.
    emulator.faults.add("/oauth/token", "latency", delay=0.3)
    emulator.clear_log()
    barrier = threading.Barrier(16)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            mine = SeeClickFixAccount.objects.select_related("user").get(pk=account.pk)
            barrier.wait(timeout=10)
            results.append(tokens.get_access_token(mine))
        except BaseException as err:
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(results) == 16
    assert emulator.token_requests("refresh_token") == 1
    assert len(set(results)) == 1
    new_token = results[0]
    assert new_token != issued.access_token
    stored = SeeClickFixAccount.objects.get(pk=account.pk)
    assert stored.access_token == new_token
    assert stored.token_version == account.token_version + 1
    assert emulator.token_state(new_token) == "active"
    assert emulator.token_state(stored.refresh_token) == "active"
    assert stored.refresh_token != issued.refresh_token


@pytest.mark.django_db
def test_signup_then_login_with_seeclickfix_against_the_emulator(client, emulator):
    from django.contrib.auth import get_user_model

    authorize_at_emulator(client, emulator, "newcomer", process="login")
    user = get_user_model().objects.get()
    assert client.session["_auth_user_id"] == str(user.pk)
    first = SeeClickFixAccount.objects.get()
    assert first.user == user
    assert first.user_scf_id == emulator.user("newcomer").id

    client.logout()
    authorize_at_emulator(client, emulator, "newcomer", process="login")
    assert client.session["_auth_user_id"] == str(user.pk)
    again = SeeClickFixAccount.objects.get()
    assert again.pk == first.pk
    assert again.access_token != first.access_token
    assert emulator.token_state(again.access_token) == "active"
    assert get_user_model().objects.count() == 1
