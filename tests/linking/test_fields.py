"""Encrypted token storage: ciphertext at rest, typed errors for lost keys, no searching."""

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.db import connection
from django.forms.models import model_to_dict
from django.test import override_settings

from django_seeclickfix.exceptions import TokenDecryptionError
from django_seeclickfix.fields import Ciphertext
from django_seeclickfix.models import SeeClickFixAccount

pytestmark = pytest.mark.django_db

SENTINEL = "sentinel-access-TOKEN-7f3a"
REFRESH = "sentinel-refresh-TOKEN-9c1d"


@pytest.fixture
def account(django_user_model):
    user = django_user_model.objects.create_user("ada", password="pw")
    return SeeClickFixAccount.objects.create(
        user=user,
        environment="production",
        user_scf_id=42,
        access_token=SENTINEL,
        refresh_token=REFRESH,
    )


def raw_columns(pk):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM seeclickfix_seeclickfixaccount WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


def test_raw_sql_read_never_shows_the_tokens(account):
    access, refresh = raw_columns(account.pk)
    assert SENTINEL not in access
    assert REFRESH not in refresh
    assert access.startswith("gAAAA")  # a Fernet token
    loaded = SeeClickFixAccount.objects.get(pk=account.pk)
    assert loaded.access_token == SENTINEL
    assert loaded.refresh_token == REFRESH


def test_values_serializers_and_model_to_dict_see_ciphertext_only(account):
    values = SeeClickFixAccount.objects.values("access_token", "refresh_token").get()
    assert all(isinstance(v, Ciphertext) for v in values.values())
    assert SENTINEL not in repr(values)
    assert REFRESH not in str(values)
    dumped = serializers.serialize("json", SeeClickFixAccount.objects.all())
    assert SENTINEL not in dumped
    assert REFRESH not in dumped
    as_dict = model_to_dict(SeeClickFixAccount.objects.get())
    assert SENTINEL not in repr(as_dict)
    assert SENTINEL not in repr(account)
    assert SENTINEL not in str(account)


def test_dump_and_load_round_trip_keeps_the_token(account):
    dumped = serializers.serialize("json", SeeClickFixAccount.objects.all())
    SeeClickFixAccount.objects.all().delete()
    for obj in serializers.deserialize("json", dumped):
        obj.save()
    assert SeeClickFixAccount.objects.get().access_token == SENTINEL


def test_a_missing_key_raises_a_typed_error_and_never_returns_ciphertext(account):
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [Fernet.generate_key().decode()]}):
        loaded = SeeClickFixAccount.objects.get(pk=account.pk)  # loading still works
        with pytest.raises(TokenDecryptionError) as excinfo:
            _ = loaded.access_token
        assert "TOKEN_KEYS" in str(excinfo.value)
        # The rest of the row stays usable: a status change saves without decrypting.
        loaded.status = SeeClickFixAccount.Status.REAUTH_REQUIRED
        loaded.save()
    assert SeeClickFixAccount.objects.get(pk=account.pk).access_token == SENTINEL


def test_two_keys_old_key_still_reads(account):
    from django.conf import settings

    old = settings.SEECLICKFIX["TOKEN_KEYS"][0]
    new = Fernet.generate_key().decode()
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [new, old]}):
        assert SeeClickFixAccount.objects.get(pk=account.pk).access_token == SENTINEL


def test_tokens_cannot_be_searched(account):
    with pytest.raises(TypeError, match="cannot be searched"):
        SeeClickFixAccount.objects.filter(access_token=SENTINEL).count()
    with pytest.raises(TypeError):
        SeeClickFixAccount.objects.filter(refresh_token__icontains="TOKEN").count()
    assert SeeClickFixAccount.objects.filter(refresh_token__isnull=False).count() == 1


def test_empty_refresh_token_is_stored_as_null(django_user_model):
    user = django_user_model.objects.create_user("bob")
    acc = SeeClickFixAccount.objects.create(
        user=user, environment="production", user_scf_id=7, access_token="a", refresh_token=""
    )
    assert raw_columns(acc.pk)[1] is None
    assert SeeClickFixAccount.objects.get(pk=acc.pk).refresh_token is None
    assert not SeeClickFixAccount.objects.get(pk=acc.pk).has_refresh_token


def test_save_of_a_stale_copy_does_not_overwrite_newer_tokens(account):
    stale = SeeClickFixAccount.objects.get(pk=account.pk)
    SeeClickFixAccount.objects.filter(pk=account.pk).update(access_token="newer")
    stale.last_sync_error = "boom"
    stale.save()
    fresh = SeeClickFixAccount.objects.get(pk=account.pk)
    assert fresh.access_token == "newer"
    assert fresh.last_sync_error == "boom"
    with pytest.raises(ValueError, match="token_version"):
        stale.save(update_fields=["access_token"])


def test_non_string_token_is_refused(django_user_model):
    user = django_user_model.objects.create_user("eve")
    with pytest.raises(TypeError):
        SeeClickFixAccount.objects.create(
            user=user, environment="production", user_scf_id=8, access_token=b"bytes"
        )
