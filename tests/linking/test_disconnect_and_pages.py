"""Disconnect, revocation in the background, the status page, template tags, admin, commands."""

from __future__ import annotations

from io import StringIO

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse

from django_seeclickfix import errorcodes, linking, sealing, tasks
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixRevocation
from django_seeclickfix.signals import account_unlinked
from tests.conftest import FormEndpoint

from .conftest import REVOKE_URL, callback, mock_scf, provider_apps, scf_settings, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    assert callback(client, params["state"]).status_code == 302
    return SeeClickFixAccount.objects.get()


class RevokeEndpoint(FormEndpoint):
    def __init__(self, rsps, statuses):
        super().__init__(rsps, REVOKE_URL, statuses)


def disconnect(client, django_capture_on_commit_callbacks, **data):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("seeclickfix:disconnect"), data)


@pytest.mark.parametrize(
    "statuses", [[200, 200], [503, 200, 200]], ids=["success", "5xx-then-retried"]
)
def test_disconnect_deletes_tokens_now_and_revokes_in_the_background(
    client, linked, mocked, django_capture_on_commit_callbacks, eager_tasks, statuses
):
    endpoint = RevokeEndpoint(mocked, statuses)
    seen = []
    account_unlinked.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="t-unl")
    try:
        response = disconnect(client, django_capture_on_commit_callbacks)
    finally:
        account_unlinked.disconnect(dispatch_uid="t-unl")
    assert response.status_code == 302
    assert response["Location"] == reverse("seeclickfix:status")
    account = SeeClickFixAccount.objects.get()
    assert account.status == "revoked"
    assert account.access_token is None
    assert account.refresh_token is None
    assert not SocialAccount.objects.exists()
    tokens_sent = [(f["token"], f.get("token_type_hint")) for f in endpoint.forms]
    assert ("rt-1", "refresh_token") in tokens_sent
    assert ("at-1", "access_token") in tokens_sent
    assert len(endpoint.forms) == len(statuses)
    assert seen[0]["account"].pk == account.pk


def test_revocation_gives_up_after_the_tasks_retries_and_the_disconnect_stands(
    client, linked, mocked, django_capture_on_commit_callbacks, eager_tasks
):
    endpoint = RevokeEndpoint(mocked, [503] * 10)
    with scf_settings(TASK_MAX_RETRIES=2):
        disconnect(client, django_capture_on_commit_callbacks)
    assert len(endpoint.forms) == 1 + 2  # the first attempt and the task's two retries
    assert SeeClickFixAccount.objects.get().status == "revoked"


def test_revocation_is_owed_in_the_disconnect_and_queued_after_commit_by_id_only(
    client, linked, mocked, django_capture_on_commit_callbacks, published
):
    endpoint = RevokeEndpoint(mocked, [200, 200])
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(reverse("seeclickfix:disconnect"))
    assert not published  # nothing before the commit
    assert SeeClickFixAccount.objects.get().access_token is None
    owed = SeeClickFixRevocation.objects.get()
    assert (owed.status, owed.reason) == ("pending", "disconnect")
    for run in callbacks:
        run()
    assert published == [("django_seeclickfix.tasks.revoke_tokens", [owed.pk])]
    assert not endpoint.forms
    tasks.revoke_tokens(owed.pk)  # what a worker runs
    assert {f["token"] for f in endpoint.forms} == {"at-1", "rt-1"}
    owed.refresh_from_db()
    assert owed.status == "revoked"
    assert (owed.access_token, owed.refresh_token) == (None, None)


def test_disconnect_needs_post_and_csrf(linked, ada):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(ada)
    assert strict.get(reverse("seeclickfix:disconnect")).status_code == 405
    assert strict.post(reverse("seeclickfix:disconnect")).status_code == 403
    assert SeeClickFixAccount.objects.get().status == "active"


def test_disconnect_when_not_connected(client, ada, django_capture_on_commit_callbacks):
    client.force_login(ada)
    response = disconnect(client, django_capture_on_commit_callbacks, next="//evil.example")
    assert response["Location"] == reverse("seeclickfix:status")


def test_only_sign_in_method_keeps_the_social_account(
    client, mocked, django_capture_on_commit_callbacks
):
    mock_scf(mocked)
    RevokeEndpoint(mocked, [200, 200])
    _, params = start(client, process="login")
    callback(client, params["state"])  # signs up a user without a password
    response = disconnect(client, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    account = SeeClickFixAccount.objects.get()
    assert account.status == "revoked"
    assert account.access_token is None
    assert SocialAccount.objects.count() == 1  # still their way to sign in
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("only way to sign in" in m for m in messages)


def test_removing_the_social_account_elsewhere_unlinks(linked, mocked):
    RevokeEndpoint(mocked, [200, 200])
    SocialAccount.objects.all().delete()
    account = SeeClickFixAccount.objects.get()
    assert account.status == "revoked"
    assert account.access_token is None


def test_deleting_a_user_revokes_their_grant(
    linked, ada, mocked, django_capture_on_commit_callbacks, eager_tasks
):
    endpoint = RevokeEndpoint(mocked, [200, 200])
    with django_capture_on_commit_callbacks(execute=True):
        ada.delete()
    assert {f["token"] for f in endpoint.forms} == {"at-1", "rt-1"}


def test_reconnect_after_disconnect_reuses_the_row(
    client, linked, mocked, django_capture_on_commit_callbacks
):
    RevokeEndpoint(mocked, [200] * 4)
    disconnect(client, django_capture_on_commit_callbacks)
    _, params = start(client)
    assert callback(client, params["state"]).status_code == 302
    again = SeeClickFixAccount.objects.get()
    assert again.pk == linked.pk
    assert again.status == "active"
    assert again.access_token == "at-1"


def test_a_disconnected_seeclickfix_account_can_be_linked_by_someone_else(
    client, linked, mocked, django_user_model, django_capture_on_commit_callbacks
):
    RevokeEndpoint(mocked, [200] * 4)
    disconnect(client, django_capture_on_commit_callbacks)
    bob = django_user_model.objects.create_user("bob", password="pw")
    client.force_login(bob)
    _, params = start(client)
    assert callback(client, params["state"]).status_code == 302
    assert SeeClickFixAccount.objects.get().user == bob


# --- pages and tags ----------------------------------------------------------------------------


def test_status_page_unlinked(client, ada):
    client.force_login(ada)
    page = client.get(reverse("seeclickfix:status"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Connect SeeClickFix" in html
    assert 'name="process" value="connect"' in html
    assert reverse("seeclickfix_login") in html


def test_status_page_linked_and_reauth(client, linked):
    page = client.get(reverse("seeclickfix:status")).content.decode()
    assert "Ada Lovelace" in page
    assert "1001" in page
    assert "production" in page
    assert "Disconnect SeeClickFix" in page
    assert "at-1" not in page
    SeeClickFixAccount.objects.update(status="reauth_required")
    page = client.get(reverse("seeclickfix:status")).content.decode()
    assert "Reconnect SeeClickFix" in page
    assert "stopped working" in page


def test_status_page_requires_login(client):
    response = client.get(reverse("seeclickfix:status"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_template_tags(linked, ada):
    request = RequestFactory().get("/somewhere/")
    request.user = ada
    source = (
        "{% load seeclickfix %}{% seeclickfix_account as acc %}{{ acc.user_scf_id }}|"
        "{% seeclickfix_link_status %}|{% seeclickfix_connect_button label='Go' %}"
    )
    html = Template(source).render(Context({"request": request}))
    assert html.startswith("1001|")
    assert "Connected to SeeClickFix as Ada Lovelace" in html
    SeeClickFixAccount.objects.filter(pk=linked.pk).update(status="reauth_required")
    request = RequestFactory().get("/somewhere/")
    request.user = ada
    html = Template(source).render(Context({"request": request}))
    assert ">Go</button>" in html
    assert 'name="next" value="/somewhere/"' in html


def test_connect_button_survives_a_real_post(client, ada, mocked):
    client.force_login(ada)
    html = client.get(reverse("seeclickfix:status")).content.decode()
    assert "csrfmiddlewaretoken" in html


def test_pages_are_translatable(client, ada):
    from django.utils import translation

    client.force_login(ada)
    with translation.override("de"):
        page = client.get(reverse("seeclickfix:status"))
        message = str(linking_messages()[errorcodes.E_LINKED_ELSEWHERE])
    assert page.status_code == 200
    assert "SeeClickFix verbinden" in page.content.decode()
    assert "bereits mit einem anderen Benutzer" in message


def linking_messages():
    from django_seeclickfix.errorcodes import MESSAGES

    return MESSAGES


# --- admin -------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_(linked, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "boss@site.example", "pw")
    admin = Client()
    admin.force_login(boss)
    return admin


def test_admin_never_shows_or_searches_tokens(admin_client_, linked):
    url = reverse("admin:seeclickfix_seeclickfixaccount_changelist")
    listing = admin_client_.get(url).content.decode()
    assert "ada" in listing

    def hits(q):
        return admin_client_.get(url, {"q": q}).context["cl"].result_count

    assert [hits(q) for q in ("at-1", "rt-1", "gAAAA", "at", "rt")] == [0, 0, 0, 0, 0]
    assert hits("1001") == 1
    assert hits("ada") == 1
    change = admin_client_.get(
        reverse("admin:seeclickfix_seeclickfixaccount_change", args=[linked.pk])
    ).content.decode()
    assert "at-1" not in change
    assert "rt-1" not in change
    assert "gAAAA" not in change
    assert "access token and refresh token stored" in change
    assert 'name="access_token"' not in change


def test_admin_actions(admin_client_, linked, mocked, django_capture_on_commit_callbacks):
    from .conftest import TokenEndpoint, token_body

    TokenEndpoint(mocked, token_body(access="at-admin", refresh="rt-admin"))
    url = reverse("admin:seeclickfix_seeclickfixaccount_changelist")
    actions = admin_client_.get(url).content.decode()
    assert "refresh_tokens" in actions
    assert "sync_now" in actions
    admin_client_.post(url, {"action": "refresh_tokens", "_selected_action": [linked.pk]})
    assert SeeClickFixAccount.objects.get().access_token == "at-admin"
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_.post(url, {"action": "mark_reauth", "_selected_action": [linked.pk]})
    assert SeeClickFixAccount.objects.get().status == "reauth_required"


def test_admin_sync_now_queues_the_sync(admin_client_, linked, published):
    url = reverse("admin:seeclickfix_seeclickfixaccount_changelist")
    assert "sync_now" in admin_client_.get(url).content.decode()
    admin_client_.post(url, {"action": "sync_now", "_selected_action": [linked.pk]})
    assert published == [("django_seeclickfix.tasks.sync_account", [linked.pk])]


def test_admin_sync_now_needs_the_change_permission(linked, django_user_model, published):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_seeclickfixaccount"))
    staff = Client()
    staff.force_login(viewer)
    url = reverse("admin:seeclickfix_seeclickfixaccount_changelist")
    listing = staff.get(url)
    assert listing.status_code == 200
    assert "sync_now" not in listing.content.decode()
    staff.post(url, {"action": "sync_now", "_selected_action": [linked.pk]})
    assert not published


def test_first_sync_is_queued_on_commit(
    client, ada, mocked, django_capture_on_commit_callbacks, published
):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    with django_capture_on_commit_callbacks() as callbacks:
        callback(client, params["state"])
    assert not published  # nothing before the commit
    for run in callbacks:
        run()
    assert published == [
        ("django_seeclickfix.tasks.sync_account", [SeeClickFixAccount.objects.get().pk])
    ]


def test_nothing_is_queued_when_the_linking_transaction_rolls_back(
    ada, django_capture_on_commit_callbacks, published
):
    from django.db import transaction
    from django.utils import timezone

    from django_seeclickfix.client import TokenResponse

    sealed = sealing.seal_tokens(
        TokenResponse("at-1", "Bearer", 7200, "rt-1", None, None), received_at=timezone.now()
    )

    def link_then_fail():
        with transaction.atomic():
            linking.link_account(
                user=ada,
                social_account=None,
                tokens=sealing.unseal_tokens(sealed),
                profile={"id": 1001, "name": "Ada"},
            )
            raise RuntimeError("the surrounding request failed")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        link_then_fail()
    assert not callbacks
    assert not published
    assert not SeeClickFixAccount.objects.exists()


# --- registration info -------------------------------------------------------------------------


def test_registration_info_prints_the_exact_callback_uris():
    out = StringIO()
    call_command("seeclickfix_registration_info", "--all-flows", "--name", "Civic", stdout=out)
    text = out.getvalue()
    assert "http://testserver/accounts/seeclickfix/login/callback/" in text
    assert "http://testserver/accounts/seeclickfix/login/relay/" in text
    assert "https://seeclickfix.com" in text
    assert "Civic" in text
    assert "test-client-secret" not in text


def test_registration_info_follows_the_configured_flow():
    out = StringIO()
    with provider_apps(secret=""), scf_settings(ENVIRONMENT="test"):
        call_command("seeclickfix_registration_info", stdout=out)
    text = out.getvalue()
    assert "relay/" in text
    assert "callback/" not in text
    assert "https://test.seeclickfix.com" in text


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_does_not_break_linking_or_disconnecting(
    client, ada, mocked, monkeypatch, caplog
):
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.sync_account, "delay", broker_down)
    monkeypatch.setattr(tasks.revoke_tokens, "apply_async", broker_down)
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    assert callback(client, params["state"]).status_code == 302
    assert SeeClickFixAccount.objects.get().status == "active"

    response = client.post(reverse("seeclickfix:disconnect"))
    assert response.status_code == 302
    account = SeeClickFixAccount.objects.get()
    assert account.status == "revoked"
    assert account.access_token is None
    failures = [r.getMessage() for r in caplog.records if "on_commit" in r.getMessage()]
    assert [message.split(" in on_commit")[0] for message in failures] == [
        "Error calling queue_sync.<locals>.queue_first_sync",
    ]
    # The revocation is owed all the same: the sweeper sends it once the broker is back.
    owed = SeeClickFixRevocation.objects.get()
    assert (owed.status, owed.message_due_at) == ("pending", None)
    assert "Could not send django_seeclickfix.tasks.revoke_tokens" in caplog.text
    assert "rt-1" not in caplog.text
    assert "at-1" not in caplog.text
