"""Every fault kind, seen from a plain ``requests`` client."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
import requests

from .conftest import bearer


def profile(http, emulator, **kwargs) -> requests.Response:
    return http.get(f"{emulator.api_url}/profile", **kwargs)


def test_latency_fixed(scf_emulator, http):
    scf_emulator.faults.add(r"^/api/v2/profile$", "latency", delay=0.3, count=1)
    started = time.perf_counter()
    assert profile(http, scf_emulator).status_code == 200
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    profile(http, scf_emulator)
    assert time.perf_counter() - started < 0.3


def test_latency_random_within_bounds(scf_emulator, http):
    scf_emulator.faults.add("/profile", "latency", min_delay=0.05, max_delay=0.15, count=3)
    for _ in range(3):
        started = time.perf_counter()
        profile(http, scf_emulator)
        assert 0.05 <= time.perf_counter() - started < 1.0


def test_latency_does_not_hold_up_other_clients(scf_emulator, http):
    scf_emulator.faults.add("/issues/new", "latency", delay=1.0)
    import threading

    slow = threading.Thread(
        target=lambda: requests.get(
            f"{scf_emulator.api_url}/issues/new?lat=1&lng=1", headers={"User-Agent": "x"}, timeout=5
        )
    )
    slow.start()
    time.sleep(0.05)
    started = time.perf_counter()
    assert profile(http, scf_emulator).status_code == 200
    assert time.perf_counter() - started < 0.5
    slow.join()


def test_the_next_n_responses_are_5xx_then_normal(scf_emulator, http):
    fault = scf_emulator.faults.add("/profile", "error", count=2, status=503)
    statuses = [profile(http, scf_emulator).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert fault.fired == 2
    assert fault.exhausted
    logged = [e.fault for e in scf_emulator.requests("/api/v2/profile")]
    assert logged == ["error", "error", None]


def test_default_error_is_500_server_error(scf_emulator, http):
    scf_emulator.faults.add("/profile", "error", count=1)
    response = profile(http, scf_emulator)
    assert response.status_code == 500
    assert response.text == "500 Server Error"


def test_connection_reset(scf_emulator, http):
    scf_emulator.faults.add("/profile", "reset", count=1)
    with pytest.raises(requests.ConnectionError):
        profile(http, scf_emulator)
    assert profile(http, scf_emulator).status_code == 200


def test_truncated_body(scf_emulator, http, rita_token):
    scf_emulator.faults.add("/profile", "truncate", count=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        profile(http, scf_emulator, headers=bearer(rita_token))
    scf_emulator.faults.add("/profile", "truncate", count=1, send_bytes=10)
    streamed = profile(http, scf_emulator, headers=bearer(rita_token), stream=True)
    assert int(streamed.headers["Content-Length"]) > 10
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        streamed.content  # noqa: B018  (reading the body is the point)
    assert profile(http, scf_emulator).status_code == 200


def test_malformed_json(scf_emulator, http, rita_token):
    scf_emulator.faults.add("/profile", "malformed_json", count=1)
    response = profile(http, scf_emulator, headers=bearer(rita_token))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    scf_emulator.faults.add("/profile", "malformed_json", count=1, body="<html>oops</html>")
    assert profile(http, scf_emulator).text == "<html>oops</html>"


def test_slow_drip(scf_emulator, http, rita_token):
    scf_emulator.faults.add("/profile", "slow_drip", count=1, chunk_size=100, interval=0.1)
    started = time.perf_counter()
    response = profile(http, scf_emulator, headers=bearer(rita_token))
    elapsed = time.perf_counter() - started
    assert response.json()["name"] == "Rita Resident"
    chunks = -(-len(response.content) // 100)
    assert elapsed >= 0.1 * chunks * 0.9
    # each byte arrives well within a read timeout, so only a total deadline catches it
    scf_emulator.faults.add("/profile", "slow_drip", count=1, chunk_size=50, interval=0.2)
    started = time.perf_counter()
    profile(http, scf_emulator, headers=bearer(rita_token), timeout=(1, 0.5))
    assert time.perf_counter() - started > 1.0


def test_oversized_body_with_length(scf_emulator, http):
    scf_emulator.faults.add("/profile", "oversized", count=1, size=3 * 1024 * 1024)
    response = http.get(f"{scf_emulator.api_url}/profile", stream=True)
    assert int(response.headers["Content-Length"]) == 3 * 1024 * 1024
    received = 0
    for chunk in response.iter_content(65536):
        received += len(chunk)
        if received > 1024 * 1024:  # a client with a 1 MiB cap gives up here
            response.close()
            break
    assert received > 1024 * 1024
    assert profile(http, scf_emulator).status_code == 200


def test_oversized_chunked_body_is_valid_json_when_read_whole(scf_emulator, http):
    scf_emulator.faults.add("/profile", "oversized", count=1, size=200_000, chunked=True)
    response = profile(http, scf_emulator)
    assert "Content-Length" not in response.headers
    assert len(response.content) == 200_000
    assert set(response.json()) == {"padding"}


@pytest.mark.parametrize("fmt", ["seconds", "http-date"])
def test_429_with_retry_after(scf_emulator, http, fmt):
    scf_emulator.faults.add(
        "/profile", "rate_limit", count=1, retry_after=42, retry_after_format=fmt
    )
    response = profile(http, scf_emulator)
    assert response.status_code == 429
    assert response.json()["message"] == "Too Many Requests"
    header = response.headers["Retry-After"]
    if fmt == "seconds":
        assert header == "42"
    else:
        when = parsedate_to_datetime(header)
        wait = (when - datetime.now(UTC)).total_seconds()
        assert 38 <= wait <= 43


@pytest.mark.parametrize(("fmt", "present"), [("none", False), ("garbage", True)])
def test_429_without_a_usable_retry_after(scf_emulator, http, fmt, present):
    scf_emulator.faults.add("/profile", "rate_limit", count=1, retry_after_format=fmt)
    response = profile(http, scf_emulator)
    assert response.status_code == 429
    assert ("Retry-After" in response.headers) is present


def test_any_status_with_json_body_and_headers(scf_emulator, http):
    scf_emulator.faults.add(
        "/profile",
        "status",
        count=1,
        status=403,
        body={"message": "Request forbidden by administrative rules."},
        headers={"X-Why": "abuse"},
    )
    response = profile(http, scf_emulator)
    assert response.status_code == 403
    assert response.json()["message"].startswith("Request forbidden")
    assert response.headers["X-Why"] == "abuse"


def test_redirect_to_another_host(scf_emulator, http, rita_token):
    other = f"http://localhost:{scf_emulator.port}/api/v2/profile"
    scf_emulator.faults.add("^/api/v2/profile$", "redirect", count=1, location=other, status=301)
    response = profile(http, scf_emulator, headers=bearer(rita_token))
    assert response.history[0].status_code == 301
    assert response.url == other
    # requests drops Authorization on a cross-host redirect: SeeClickFix sees an anonymous call
    assert response.json() == {"id": None}


def test_faults_after_processing_change_state_but_fail_the_client(scf_emulator, http, rita_token):
    issue_id = min(scf_emulator.state.issues)
    before = len(scf_emulator.issue(issue_id).comments)
    scf_emulator.faults.add("/comments$", "reset", count=1, method="POST", after_processing=True)
    with pytest.raises(requests.ConnectionError):
        http.post(
            f"{scf_emulator.api_url}/issues/{issue_id}/comments",
            data={"comment": "did it land?"},
            headers=bearer(rita_token),
        )
    assert len(scf_emulator.issue(issue_id).comments) == before + 1


def test_faults_match_method_and_path_and_can_be_removed(scf_emulator, http):
    fault = scf_emulator.faults.add(r"/issues$", "error", method="POST")
    assert http.get(f"{scf_emulator.api_url}/issues").status_code == 200
    assert http.post(f"{scf_emulator.api_url}/issues").status_code == 500
    scf_emulator.faults.remove(fault.id)
    assert http.post(f"{scf_emulator.api_url}/issues").status_code == 401
    scf_emulator.faults.add("/", "error")
    scf_emulator.faults.clear()
    assert profile(http, scf_emulator).status_code == 200


def test_fault_specs_are_checked():
    from django_seeclickfix.testing.emulator.faults import Faults

    with pytest.raises(ValueError, match="Unknown fault kind"):
        Faults().add("/", "explode")
    with pytest.raises(ValueError, match="count"):
        Faults().add("/", "error", count=0)
