"""The authorization-code flow with PKCE against the real Doorkeeper: connect and login."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from django_seeclickfix.models import SeeClickFixAccount

from .conftest import ENVIRONMENT, connect, follow_back, start

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db]


def test_connect_with_pkce_links_the_doorkeeper_user(client, django_user_model, site):
    ada = django_user_model.objects.create_user("ada", password="pw")
    client.force_login(ada)
    authorize_url = start(client)
    assert "code_challenge_method=S256" in authorize_url
    done = site.browser.authorize(authorize_url)
    response = follow_back(client, done)
    assert response.status_code == 302, response.content[:300]
    account = SeeClickFixAccount.objects.get(user=ada)
    assert account.user_scf_id == site.user.id
    assert account.environment == ENVIRONMENT
    assert account.profile["name"] == site.user.name
    assert site.doorkeeper.profile_id(account.access_token) == site.user.id
    (row,) = site.doorkeeper.token_rows(site.user)
    assert row["accessible"]
    assert row["refresh_token"] == account.refresh_token


def test_login_with_seeclickfix_creates_the_site_user(client, site):
    response = connect(client, site, process="login")
    assert response.status_code == 302
    user = get_user_model().objects.get()
    assert client.session["_auth_user_id"] == str(user.pk)
    assert SeeClickFixAccount.objects.get(user=user).user_scf_id == site.user.id
