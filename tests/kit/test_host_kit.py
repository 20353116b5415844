"""The test kit as a host project uses it: one fixture gives a linked user, through the real
flow against the emulator, under the project's own settings."""

from __future__ import annotations

import pytest
from django.conf import settings

from django_seeclickfix.models import SeeClickFixAccount
from django_seeclickfix.testing import link_user

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def test_scf_linked_user_is_linked_to_the_emulators_resident(scf_linked_user, scf_emulator):
    account = SeeClickFixAccount.objects.get(user=scf_linked_user)
    assert account == scf_linked_user.seeclickfix_account
    assert account.status == "active"
    assert account.user_scf_id == scf_emulator.user("resident").id
    assert scf_emulator.token_state(account.access_token) == "active"


def test_the_settings_point_the_flow_at_the_test_client(scf_emulator_settings):
    assert settings.SEECLICKFIX["SITE_URL"] == "http://testserver"
    assert settings.SEECLICKFIX["BASE_URL"] == scf_emulator_settings.url


def test_the_implicit_app_accepts_the_relay_uri(
    scf_emulator_settings, settings, client, django_user_model
):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "seeclickfix": {"APPS": [{"client_id": "scf-emulator-implicit", "secret": ""}]}
    }
    user = django_user_model.objects.create_user("implicit", password="pw")
    account = link_user(client, scf_emulator_settings, user, "newcomer")
    assert account.user_scf_id == scf_emulator_settings.user("newcomer").id
    assert scf_emulator_settings.token_requests() == 0  # the token came in the fragment
