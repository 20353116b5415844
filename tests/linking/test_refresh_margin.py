"""A TOKEN_REFRESH_MARGIN as long as the token's lifetime (issue 16, #5).

Clamped to half the lifetime SeeClickFix gave each token, so requests do not refresh a token
they were just given; a margin that can never be right is a system check.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_seeclickfix import checks, tokens
from django_seeclickfix.models import SeeClickFixAccount

from .conftest import TokenEndpoint, scf_settings, token_body

pytestmark = pytest.mark.django_db

LIFETIME = 60  # a server with short-lived tokens; the margin below is five times that


def account_issued(user, seconds_ago):
    issued = timezone.now() - timedelta(seconds=seconds_ago)
    return SeeClickFixAccount.objects.create(
        user=user,
        environment="production",
        user_scf_id=1001,
        access_token="at-old",
        refresh_token="rt-old",
        token_issued_at=issued,
        expires_at=issued + timedelta(seconds=LIFETIME),
        token_version=1,
    )


def three_requests(account):
    return [tokens.get_access_token(account) for _ in range(3)]


def test_a_margin_longer_than_the_lifetime_does_not_refresh_every_call(ada, mocked):
    endpoint = TokenEndpoint(mocked, token_body(access="at-new", expires_in=LIFETIME))
    account = account_issued(ada, seconds_ago=1)
    with scf_settings(TOKEN_REFRESH_MARGIN=300):
        assert three_requests(account) == ["at-old"] * 3
    assert endpoint.forms == []


def test_a_token_past_half_its_life_is_refreshed_once(ada, mocked):
    endpoint = TokenEndpoint(mocked, token_body(access="at-new", expires_in=LIFETIME))
    account = account_issued(ada, seconds_ago=LIFETIME - 10)
    with scf_settings(TOKEN_REFRESH_MARGIN=300):
        assert three_requests(account) == ["at-new"] * 3
    assert len(endpoint.forms) == 1
    account.refresh_from_db()
    assert account.expires_at - account.token_issued_at == timedelta(seconds=LIFETIME)


def test_the_margin_applies_when_shorter_than_half_the_lifetime(ada):
    account = account_issued(ada, seconds_ago=0)
    with scf_settings(TOKEN_REFRESH_MARGIN=20):
        assert tokens.refresh_margin(account) == timedelta(seconds=20)
    with scf_settings(TOKEN_REFRESH_MARGIN=300):
        assert tokens.refresh_margin(account) == timedelta(seconds=LIFETIME / 2)


def check_ids():
    return [message.id for message in checks.check_refresh_margin()]


def test_a_margin_not_below_the_refresh_token_age_is_an_error():
    with scf_settings(TOKEN_REFRESH_MARGIN=3600, REFRESH_TOKEN_MAX_AGE=3600):
        assert check_ids() == ["django_seeclickfix.E016"]
    with scf_settings(TOKEN_REFRESH_MARGIN=300, REFRESH_TOKEN_MAX_AGE=3600):
        assert check_ids() == []


def test_a_margin_not_below_seeclickfix_token_lifetime_is_a_warning():
    with scf_settings(TOKEN_REFRESH_MARGIN=7200):
        assert check_ids() == ["django_seeclickfix.W016"]
    with scf_settings(TOKEN_REFRESH_MARGIN=300):
        assert check_ids() == []
