"""What the user reads after connecting and after removing the link on allauth's own page:
the library's words, not allauth's "third-party account" notices."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.urls import reverse

from django_seeclickfix.models import SeeClickFixAccount

from .conftest import callback, mock_scf, start

pytestmark = pytest.mark.django_db

GENERIC = "third-party account"


def shown(client):
    """What the next page shows (the messages stored with the redirect)."""
    return [str(m) for m in get_messages(client.get(reverse("seeclickfix:status")).wsgi_request)]


def test_connecting_says_seeclickfix_is_connected(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    done = callback(client, params["state"])
    assert done.status_code == 302
    notices = shown(client)
    assert any(n.startswith("SeeClickFix is connected.") for n in notices), notices
    assert not any(GENERIC in n for n in notices)


def test_reconnecting_says_so_too(client, ada, mocked):
    client.force_login(ada)
    mock_scf(mocked)
    for _round in range(2):
        _, params = start(client)
        assert callback(client, params["state"]).status_code == 302
    notices = shown(client)
    assert any(n.startswith("SeeClickFix is connected.") for n in notices), notices
    assert not any(GENERIC in n for n in notices)


def test_removing_on_allauths_connections_page_names_seeclickfix(
    client, ada, mocked, django_capture_on_commit_callbacks
):
    client.force_login(ada)
    mock_scf(mocked)
    _, params = start(client)
    callback(client, params["state"])
    mocked.post("https://test.seeclickfix.com/oauth/revoke", status=200)
    social = SocialAccount.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        removed = client.post(reverse("socialaccount_connections"), {"account": social.pk})
    assert removed.status_code == 302
    assert SeeClickFixAccount.objects.get().status == "revoked"
    notices = shown(client)
    assert any(n.startswith("SeeClickFix is disconnected.") for n in notices), notices
    assert not any(GENERIC in n for n in notices)


def test_other_messages_survive_the_swap(rf):
    from django.contrib import messages
    from django.contrib.messages.storage.cookie import CookieStorage

    from django_seeclickfix.allauth_messages import replace_message

    request = rf.get("/")
    request._messages = CookieStorage(request)
    messages.info(request, "first")
    messages.info(request, "The third-party account has been connected.")
    messages.warning(request, "last")
    assert replace_message(request, {"The third-party account has been connected."}, "ours")
    response = HttpResponse()
    request._messages.update(response)  # what the middleware stores for the next page
    following = rf.get("/")
    following.COOKIES["messages"] = response.cookies["messages"].value
    kept = [(m.level, m.message) for m in CookieStorage(following)]
    assert kept == [(messages.INFO, "first"), (messages.INFO, "ours"), (messages.WARNING, "last")]


def test_the_connected_notice_is_translated(client, ada, mocked):
    from django.utils import translation

    client.force_login(ada)
    mock_scf(mocked)
    with translation.override("de"):
        _, params = start(client)
        callback(client, params["state"])
    notices = shown(client)
    assert any(n.startswith("SeeClickFix ist verbunden.") for n in notices), notices
