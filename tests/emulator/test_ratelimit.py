"""The documented limit: N requests per window per client, 429 with Retry-After, then 403 for
clients that keep going."""

from __future__ import annotations

import pytest

from django_seeclickfix.testing.emulator.ratelimit import RateLimiter

from .conftest import bearer


def statuses(http, emulator, n: int, **kwargs) -> list[int]:
    return [http.get(f"{emulator.api_url}/profile", **kwargs).status_code for _ in range(n)]


def test_the_fixture_starts_with_the_limit_off(scf_emulator, http):
    assert not scf_emulator.limiter.enabled
    assert set(statuses(http, scf_emulator, 40)) == {200}


def test_429_with_retry_after_and_the_documented_body(scf_emulator, http):
    scf_emulator.set_rate_limit(20, 60)
    assert statuses(http, scf_emulator, 20) == [200] * 20
    refused = http.get(f"{scf_emulator.api_url}/profile")
    assert refused.status_code == 429
    assert refused.json()["message"] == "Too Many Requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert scf_emulator.counters["rate_limit.429"] == 1


def test_the_window_slides(scf_emulator, http):
    scf_emulator.set_rate_limit(3, 10)
    assert statuses(http, scf_emulator, 3) == [200] * 3
    scf_emulator.advance(5)
    refused = http.get(f"{scf_emulator.api_url}/profile")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == 5
    scf_emulator.advance(5)
    assert statuses(http, scf_emulator, 4) == [200, 200, 200, 429]


def test_oauth_and_pages_do_not_count(scf_emulator, http):
    scf_emulator.set_rate_limit(1, 60)
    for _ in range(3):
        assert http.get(f"{scf_emulator.url}/users/sign_in").status_code == 200
        assert http.post(f"{scf_emulator.url}/oauth/token").status_code == 400
    assert statuses(http, scf_emulator, 2) == [200, 429]


def test_per_token_scope(scf_emulator, http):
    scf_emulator.set_rate_limit(2, 60, scope="token")
    one = bearer(scf_emulator.issue_token("resident").access_token)
    two = bearer(scf_emulator.issue_token("newcomer").access_token)
    assert statuses(http, scf_emulator, 3, headers=one) == [200, 200, 429]
    assert statuses(http, scf_emulator, 2, headers=two) == [200, 200]


def test_clients_that_keep_going_are_forbidden(scf_emulator, http):
    scf_emulator.set_rate_limit(1, 10, abuse_after=2)
    assert statuses(http, scf_emulator, 4) == [200, 429, 429, 403]
    forbidden = http.get(f"{scf_emulator.api_url}/profile")
    assert forbidden.json()["message"] == "Request forbidden by administrative rules."
    scf_emulator.advance(9)
    assert statuses(http, scf_emulator, 1) == [403]  # still knocking: the block goes on
    scf_emulator.advance(10)
    assert statuses(http, scf_emulator, 1) == [200]


def test_limiter_settings_are_checked():
    with pytest.raises(ValueError, match="requests"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="period"):
        RateLimiter(1, 0)
    with pytest.raises(ValueError, match="scope"):
        RateLimiter(1, 1, "planet")  # type: ignore[arg-type]


def test_reset_restores_the_construction_time_limit(scf_emulator_factory):
    emulator = scf_emulator_factory(rate_limit="5/10")
    emulator.set_rate_limit(None)
    emulator.reset()
    assert emulator.limiter.describe()["requests"] == 5
