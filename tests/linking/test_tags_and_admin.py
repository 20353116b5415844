"""The buttons follow the visitor's link state; relinking clears the last sync error; the
account admin edits nothing the library keeps for itself."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse

from django_seeclickfix.models import SeeClickFixAccount

from .conftest import callback, mock_scf, start

pytestmark = pytest.mark.django_db

BUTTONS = (
    "{% load seeclickfix %}[{% seeclickfix_connect_button CONNECT %}]"
    "[{% seeclickfix_disconnect_button %}]"
)


def render(user, connect_args=""):
    request = RequestFactory().get("/here/")
    request.user = user
    source = BUTTONS.replace("CONNECT", connect_args)
    return Template(source).render(Context({"request": request}))


@pytest.fixture
def linked(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    assert callback(client, params["state"]).status_code == 302
    return SeeClickFixAccount.objects.get()


def test_anonymous_visitors_see_no_buttons():
    assert render(AnonymousUser()) == "[][]"


def test_a_user_without_a_link_sees_only_connect(ada):
    html = render(ada)
    assert "Connect SeeClickFix</button>" in html
    assert "seeclickfix-disconnect" not in html


def test_an_active_link_shows_disconnect_and_no_connect(linked, ada):
    html = render(ada)
    assert 'seeclickfix-connect"' not in html
    assert html.startswith("[]")
    assert "Disconnect SeeClickFix</button>" in html


def test_an_active_link_can_say_connected_when_asked(linked, ada):
    html = render(ada, 'connected="Connected ✓"')
    assert '<span class="seeclickfix-connected">Connected ✓</span>' in html
    assert '<button type="submit">Connect' not in html


def test_a_link_needing_reconnection_shows_reconnect_and_disconnect(linked, ada):
    SeeClickFixAccount.objects.filter(pk=linked.pk).update(status="reauth_required")
    html = render(ada)
    assert "Reconnect SeeClickFix</button>" in html
    assert "Disconnect SeeClickFix</button>" in html


def test_a_disconnected_link_offers_connect_again(linked, ada):
    SeeClickFixAccount.objects.filter(pk=linked.pk).update(status="revoked")
    html = render(ada)
    assert "Connect SeeClickFix</button>" in html
    assert "seeclickfix-disconnect" not in html


def test_relinking_clears_the_last_sync_error(client, linked, mocked):
    SeeClickFixAccount.objects.filter(pk=linked.pk).update(
        status="reauth_required", last_sync_error="ReauthRequired: token revoked"
    )
    _, params = start(client)
    assert callback(client, params["state"]).status_code == 302
    again = SeeClickFixAccount.objects.get()
    assert again.status == "active"
    assert again.last_sync_error == ""


def test_the_account_admin_has_no_editable_field(linked, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "boss@site.example", "pw")
    admin = Client()
    admin.force_login(boss)
    url = reverse("admin:seeclickfix_seeclickfixaccount_change", args=[linked.pk])
    form = admin.get(url).context["adminform"].form
    assert list(form.fields) == []
    before = SeeClickFixAccount.objects.values("sync_queued_at", "next_sync_at").get()
    admin.post(url, {"sync_queued_at_0": "2020-01-01", "sync_queued_at_1": "00:00:00"})
    assert SeeClickFixAccount.objects.values("sync_queued_at", "next_sync_at").get() == before
