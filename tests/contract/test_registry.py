"""The contract kit itself: failures name the promise, secrets stay masked, the report says
what held, and a contract fails when the server breaks its promise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from django_seeclickfix.testing.contracts import (
    CONTRACTS,
    Broken,
    ContractFailed,
    Pace,
    Target,
    contract,
    format_report,
    run_contract,
)
from django_seeclickfix.testing.contracts import target as target_module
from django_seeclickfix.testing.contracts.emulator_target import emulator_target
from django_seeclickfix.testing.contracts.runner import Result

DOCS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
TOKEN = "tok-Zx9/secret-value"


def test_a_broken_promise_is_an_assertion_error_naming_it():
    target = Target("here", "http://127.0.0.1:9", authorization=f"Bearer {TOKEN}", token=TOKEN)
    sample = CONTRACTS["profile.anonymous"]

    def broken(_target):
        raise Broken(f"the server answered with {TOKEN}")

    failing = type(sample)(
        "demo.broken", "The server keeps its word.", sample.tags, sample.needs, None, broken
    )
    with pytest.raises(AssertionError) as raised:
        failing(target)
    assert isinstance(raised.value, ContractFailed)
    assert str(raised.value) == (
        "demo.broken: The server keeps its word. Observed: the server answered with [redacted]"
    )


def test_secrets_are_masked_and_never_in_repr():
    target = Target(
        "here",
        "http://127.0.0.1:9/",
        authorization=f"Bearer {TOKEN}",
        token=TOKEN,
        client_id="app",
        client_secret="app-secret",
    )
    target.remember_secret("minted-later")
    text = (
        f"{TOKEN} app-secret minted-later https://x/cb?code=abc&state=s "
        "#access_token=xyz Basic dXNlcjpwdw== "
    )
    masked = target.redact(text)
    for secret in (TOKEN, "app-secret", "minted-later", "abc", "xyz", "dXNlcjpwdw=="):
        assert secret not in masked
    assert "state=s" in masked
    challenge = 'Bearer realm="Doorkeeper", error="invalid_token"'
    assert target.redact(challenge) == challenge
    assert TOKEN not in repr(target)
    assert "app-secret" not in repr(target)
    assert target.api_url == "http://127.0.0.1:9/api/v2"


def test_registering_checks_its_arguments():
    with pytest.raises(ValueError, match="tags"):
        contract("demo.bad", "x", tags={"reading"})
    with pytest.raises(ValueError, match="needs"):
        contract("demo.bad", "x", tags={"read"}, needs={"a person"})
    with pytest.raises(ValueError, match="twice"):
        contract("profile.anonymous", "x", tags={"read"})(lambda target: "")


def test_the_report_lists_guesses_failures_and_what_did_not_run():
    guess, plain, other = (
        CONTRACTS["issues.page_past_cap"],
        CONTRACTS["issues.pagination"],
        CONTRACTS["profile.bad_token_401"],
    )
    report = format_report(
        [
            Result(guess, "live", True, "page 26 answered page 25 again"),
            Result(other, "live", False, "403"),
            Result(plain, "live", False, "no metadata"),
        ],
        server="live (https://test.seeclickfix.com)",
        not_run=[(CONTRACTS["oauth.pkce"], "needs a browser")],
    )
    assert "Server: live (https://test.seeclickfix.com)" in report
    assert "Contracts: 1 held, 2 did not hold, 1 not run." in report
    assert f"- held: `issues.page_past_cap`: {guess.guess} Observed: page 26" in report
    assert "- DID NOT HOLD: `profile.bad_token_401`:" in report
    assert f"- `issues.pagination`: {plain.promise} Observed: no metadata" in report
    assert "- `oauth.pkce`: needs a browser" in report


def test_every_contract_is_documented_and_every_guess_listed_as_one():
    text = DOCS.read_text()
    documented = dict(re.findall(r"^\| `([a-z_.0-9]+)` \| ([^|]*) \|", text, re.M))
    assert set(documented) == set(CONTRACTS)
    for name, found in CONTRACTS.items():
        assert ("guess" in documented[name]) == bool(found.guess), name


@pytest.mark.parametrize(
    ("switch", "name", "observed"),
    [
        ({"page_cap_answer": "404"}, "issues.page_past_cap", "page 26 answered 404"),
        ({"page_cap_answer": "empty"}, "issues.page_past_cap", "an empty page"),
        ({"page_cap": 0}, "issues.page_past_cap", "no cap at 25"),
        ({"invalid_token_behaviour": "403"}, "profile.bad_token_401", "403"),
        ({"anonymous_per_page": 50}, "issues.anonymous_per_page", "per_page 50"),
        ({"require_user_agent": False}, "errors.no_user_agent", "200"),
    ],
)
def test_a_contract_sees_the_server_break_its_promise(scf_emulator, switch, name, observed):
    scf_emulator.configure(**switch)
    result = run_contract(CONTRACTS[name], emulator_target(scf_emulator))
    assert not result.held
    assert observed in result.observed


def test_a_moderated_comment_is_one_of_the_two_promised_answers(scf_emulator):
    scf_emulator.set_moderation(comments=True)
    result = run_contract(CONTRACTS["comments.create"], emulator_target(scf_emulator))
    assert (result.held, result.observed) == (True, "202 moderated")


def test_a_bad_token_in_another_regime_still_keeps_the_plain_promise(scf_emulator):
    scf_emulator.invalid_token_behaviour = "anonymous"
    target = emulator_target(scf_emulator)
    assert run_contract(CONTRACTS["profile.bad_token"], target).observed == '200 {"id": null}'
    assert not run_contract(CONTRACTS["profile.bad_token_401"], target).held


def test_a_refused_connection_is_a_result_not_a_crash():
    target = Target("nowhere", "http://127.0.0.1:9", timeout=2)
    result = run_contract(CONTRACTS["profile.anonymous"], target)
    assert not result.held
    assert result.observed.startswith("error: ConnectionError")


def test_the_pace_waits_for_the_oldest_request_to_leave_the_window(monkeypatch):
    clock = [100.0]
    waits: list[float] = []

    def sleep(seconds):
        waits.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(target_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(target_module.time, "sleep", sleep)
    pace = Pace.parse("2/10")
    for _ in range(3):
        with pace():
            clock[0] += 1
    assert waits == [8.0]  # sent at 100 and 101; the third waits until 110
    with pytest.raises(ValueError, match="20/60"):
        Pace.parse("twenty")
