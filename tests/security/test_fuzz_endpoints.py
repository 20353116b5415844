"""Property-based fuzzing of the two endpoints SeeClickFix (or an attacker) sends browsers to:
the code-flow callback and the implicit-flow relay.

Each example starts a real flow (so a real state exists in the session), then comes back with
hostile input: query strings or POST fields of any shape, a valid or a wrong state, and
whatever SeeClickFix's token, token-info and profile endpoints answer (scripted, with
transport failures). Properties:

* never a 500 (the test client re-raises any exception a view lets through);
* never a link from bad input: a wrong state, an ``error``, an unusable code or token, or an
  unusable answer from SeeClickFix leaves no ``SeeClickFixAccount``, ``SocialAccount`` or
  ``SocialToken``; with a wrong state or an ``error``, nothing is sent to SeeClickFix at all;
* every answer carries ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``;
* valid input whose profile carries hostile values (NUL characters, huge strings, odd types
  in optional fields) links exactly once, so the harness can link and the property "never a
  link" is not vacuous.

Each example runs in a savepoint rolled back at its end, so examples are independent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import responses
from django.core.cache import caches
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st

from django_seeclickfix.models import SeeClickFixAccount
from tests.linking.conftest import (
    CLIENT_ID,
    INFO_URL,
    PROFILE_URL,
    TOKEN_URL,
    provider_apps,
    start,
)

from .conftest import assert_secure_headers, links
from .strategies import fuzz_settings, json_values

pytestmark = pytest.mark.django_db

CASES = 1000
FUZZ_SETTINGS = fuzz_settings(CASES)

# --- what SeeClickFix answers ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    failure: str | None = None  # "reset" or "timeout": no answer at all


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def _not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


text = st.text(max_size=60)
hostile_text = st.one_of(
    text,
    st.sampled_from(
        ["\x00", "a\x00b", "\u202e", "\ud800", "a\udfffb", "null", " ", "'; DROP TABLE x;--"]
    ),
    st.sampled_from(["x" * 3000, "\u00e9\u4e2d" * 700]),
)
# Tokens SeeClickFix could never have meant: nothing usable as an access token.
unusable_access_token = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "null", "None", "t\u00f8ken", "tok en", "a\x00b", "x" * 5000]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
token_fields = st.fixed_dictionaries(
    {},
    optional={
        "token_type": st.one_of(st.just("Bearer"), text),
        "expires_in": st.one_of(st.integers(-(2**40), 2**70), text, st.floats()),
        "refresh_token": st.one_of(text, st.none()),
        "scope": json_values,
        "created_at": json_values,
    },
)
bad_token_reply = st.one_of(
    # A refusal, whatever its body says (even a perfect token).
    st.builds(
        Reply,
        st.sampled_from([400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 504]),
        st.one_of(
            st.just(_json({"access_token": "looks-fine", "token_type": "Bearer"})),
            json_values.map(_json),
            st.binary(max_size=40),
        ),
    ),
    # A success that holds no usable token.
    st.builds(
        Reply,
        st.sampled_from([200, 201]),
        st.one_of(
            st.tuples(unusable_access_token, token_fields).map(
                lambda t: _json({"access_token": t[0], **t[1]})
            ),
            token_fields.map(_json),
            st.builds(
                lambda v: _json(v),
                st.one_of(st.lists(json_values, max_size=3), st.integers(), text, st.none()),
            ),
            st.binary(max_size=60).filter(_not_json),
            st.just(b'{"access_token": "abc", "expires_in": 99999999999999}'),
            st.just(b'{"access_token": "abc"'),  # cut off
        ),
        st.sampled_from(["application/json", "text/html", ""]),
    ),
    st.builds(Reply, failure=st.sampled_from(["reset", "timeout"])),
)
good_token_reply = st.just(Reply(200, _json({"access_token": "good-at", "token_type": "Bearer"})))


def _is_id_like(value: Any) -> bool:
    """Anything a lenient reader might take for a positive id (those are left out below)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and any(ch.isdigit() for ch in value)


bad_ids = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, -(2**63), 2**63, 2**64, 10**30, 0.5, -3.0, "0", "-7", "1e400", "nan"]),
    st.floats(allow_nan=True).filter(lambda f: not (f == f and f.is_integer() and f > 0)),
    json_values.filter(lambda v: not _is_id_like(v)),
)
profile_rest = st.dictionaries(
    st.sampled_from(["name", "email", "first_name", "last_name", "avatar", "permissions", "x"]),
    st.one_of(hostile_text, json_values),
    max_size=5,
)
bad_profile_reply = st.one_of(
    st.builds(
        Reply,
        st.sampled_from([200, 201]),
        st.one_of(
            st.tuples(bad_ids, profile_rest).map(lambda t: _json({**t[1], "id": t[0]})),
            profile_rest.map(_json),
            st.lists(json_values, max_size=2).map(_json),
            st.binary(max_size=40).filter(_not_json),
        ),
    ),
    st.builds(
        Reply,
        st.sampled_from([301, 304, 400, 401, 403, 404, 429, 500, 503]),
        st.just(_json({"id": 1001, "name": "Refused"})),
    ),
    st.builds(Reply, failure=st.sampled_from(["reset", "timeout"])),
)
hostile_valid_profile = st.builds(
    lambda scf_id, rest: Reply(200, _json({**rest, "id": scf_id})),
    st.integers(1, 2**63 - 1),
    profile_rest,
)
info_reply = st.one_of(
    st.builds(Reply, st.sampled_from([200, 401, 404, 500]), json_values.map(_json)),
    st.builds(Reply, st.just(200), st.just(_json({"application": {"uid": "another-app"}}))),
    st.builds(Reply, failure=st.just("reset")),
)
# A 404 (no token info) is not good: the implicit flow fails closed (IMPLICIT_AUDIENCE_CHECK).
good_info_reply = st.just(Reply(200, _json({"application": {"uid": CLIENT_ID}})))


class FakeSCF:
    """``responses`` callbacks answering from the current example's replies."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.replies: dict[str, Reply] = {}
        self.sent: list[str] = []
        for method, url, name in (
            (responses.POST, TOKEN_URL, "token"),
            (responses.GET, PROFILE_URL, "profile"),
            (responses.GET, INFO_URL, "info"),
        ):
            rsps.add_callback(method, url, callback=self._answer(name))

    def _answer(self, name: str) -> Any:
        def answer(request: requests.PreparedRequest) -> Any:
            self.sent.append(name)
            for _name, value in request.headers.items():  # as http.client would check them
                if isinstance(value, str):
                    value.encode("latin-1")
            reply = self.replies.get(name, Reply(599, b"unexpected"))
            if reply.failure == "reset":
                raise requests.ConnectionError("Connection reset by peer")
            if reply.failure == "timeout":
                raise requests.ReadTimeout("read timed out")
            return reply.status, {"Content-Type": reply.content_type}, reply.body

        return answer

    def script(self, **replies: Reply) -> None:
        self.replies = replies
        self.sent = []


@pytest.fixture
def scf() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeSCF(rsps)


@pytest.fixture
def browser(ada: Any) -> Client:
    client = Client()
    client.force_login(ada)
    return client


IMPLICIT_APP = provider_apps(secret="")


@pytest.fixture
def code_state(browser: Client) -> str:
    """A real state of a started code flow. Each example consumes it inside a savepoint that is
    rolled back, so every example finds it fresh in the session."""
    return _start(browser)


@pytest.fixture
def implicit_state(browser: Client) -> str:
    with IMPLICIT_APP:
        return _start(browser)


def _start(client: Client) -> str:
    _, params = start(client)
    return str(params["state"])


def _wrong_state(real: str) -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.none(),
        text,
        st.sampled_from(
            [
                real[:-1],
                real + "x",
                real.upper() if real.upper() != real else real.lower(),
                " " + real,
                real + "\x00",
                "x" * 201,
            ]
        ),
    )


junk_params = st.dictionaries(
    st.one_of(st.sampled_from(["error_description", "error_uri", "iss", "next", "_redir"]), text),
    st.one_of(hostile_text, st.lists(hostile_text, min_size=1, max_size=3)),
    max_size=3,
).map(lambda d: {k: v for k, v in d.items() if k not in ("state", "code", "error")})


@dataclass(frozen=True)
class Case:
    kind: str
    state: str | None
    params: dict[str, Any]
    replies: dict[str, Reply]
    should_link: bool


def callback_cases(real: str) -> st.SearchStrategy[Case]:
    code = st.one_of(hostile_text, st.just("the-code"))
    wrong_state, error, bad_token, bad_profile, hostile_valid = (
        st.builds(
            lambda s, c, e, junk: Case(
                "wrong-state",
                s,
                {"code": c, **({"error": e} if e is not None else {}), **junk},
                {},
                False,
            ),
            _wrong_state(real),
            code,
            st.one_of(st.none(), text),
            junk_params,
        ),
        st.builds(
            lambda e, c, junk: Case("error", real, {"error": e, "code": c, **junk}, {}, False),
            hostile_text,
            code,
            junk_params,
        ),
        st.builds(
            lambda c, r, junk: Case("bad-token", real, {"code": c, **junk}, {"token": r}, False),
            code,
            bad_token_reply,
            junk_params,
        ),
        st.builds(
            lambda c, r, junk: Case(
                "bad-profile",
                real,
                {"code": c, **junk},
                {"token": Reply(200, _json({"access_token": "good-at"})), "profile": r},
                False,
            ),
            code,
            bad_profile_reply,
            junk_params,
        ),
        st.builds(
            lambda r, junk: Case(
                "hostile-valid",
                real,
                {"code": "the-code", **junk},
                {"token": Reply(200, _json({"access_token": "good-at"})), "profile": r},
                True,
            ),
            hostile_valid_profile,
            junk_params,
        ),
    )
    # Weighted towards the cases that reach SeeClickFix's answers.
    kinds = {
        "wrong-state": wrong_state,
        "error": error,
        "bad-token": bad_token,
        "bad-profile": bad_profile,
        "hostile-valid": hostile_valid,
    }
    weights = ["wrong-state"] * 2 + ["error"] + ["bad-token", "bad-profile"] * 3
    return st.sampled_from([*weights, "hostile-valid"]).flatmap(kinds.__getitem__)


def _check(client: Client, scf: FakeSCF, case: Case, response: Any) -> None:
    assert response.status_code < 500
    assert_secure_headers(response)
    location = response.get("Location", "")
    assert "good-at" not in location
    assert "the-code" not in location
    if case.kind in ("wrong-state", "error"):
        assert scf.sent == []
    if case.should_link:
        assert response.status_code == 302, response.content[:300]
        account = SeeClickFixAccount.objects.get()
        assert account.access_token == "good-at"
    else:
        assert links() == 0, case


def _encoded(params: dict[str, Any]) -> str:
    """URL-encoded as a browser would send it; unpaired surrogates become the (invalid UTF-8)
    bytes a hostile client can still put on the wire."""
    return urlencode(params, doseq=True, encoding="utf-8", errors="surrogatepass")


def _run(client: Client, scf: FakeSCF, case: Case, send: Any) -> None:
    event(case.kind)  # the mix of cases shows in --hypothesis-show-statistics
    caches["default"].clear()  # a 429 in one example pauses the budget for the next ones
    scf.script(**case.replies)
    with transaction.atomic():
        _check(client, scf, case, send())
        transaction.set_rollback(True)


@FUZZ_SETTINGS
@given(data=st.data())
def test_callback_never_500_never_links_bad_input(browser, scf, code_state, data):
    real = code_state
    case = data.draw(callback_cases(real), label="case")
    query: dict[str, Any] = dict(case.params)
    if case.state is not None:
        query["state"] = case.state
    url = reverse("seeclickfix_callback") + "?" + _encoded(query)
    _run(browser, scf, case, lambda: browser.get(url))


def test_a_profile_no_database_can_store_as_is_links_without_a_500(browser, scf):
    """NUL characters (PostgreSQL refuses them), unpaired surrogates (no database encodes
    them) and NaN/Infinity (not JSON; SQLite's check and jsonb refuse them): the profile still
    links, cleaned."""
    from allauth.socialaccount.models import SocialAccount

    real = _start(browser)
    profile = {
        "id": 42,
        "name": "Ada\x00Lovelace",
        "first_name": "\ud800",
        "email": "\x00@x",
        "avatar": {"\x00": "\x00"},
        "civic_points": float("nan"),
        "rating": float("inf"),
    }
    scf.script(
        token=Reply(200, _json({"access_token": "good-at"})), profile=Reply(200, _json(profile))
    )
    response = browser.get(reverse("seeclickfix_callback"), {"state": real, "code": "the-code"})
    assert response.status_code == 302
    stored = SeeClickFixAccount.objects.get().profile
    assert stored["name"] == "AdaLovelace"
    assert stored["first_name"] == "\ufffd"
    assert stored["avatar"] == {"": ""}
    assert stored["civic_points"] is None
    assert stored["rating"] is None
    assert SocialAccount.objects.get().extra_data["name"] == "AdaLovelace"


# --- the relay -------------------------------------------------------------------------------

ascii_token = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60
)
bad_fragment_token = st.one_of(
    st.sampled_from(["", " ", "\t", "tok en", "t\u00f8ken", "a\x00b", "x" * 4097]),
    text.filter(lambda t: not t.strip() or any(not 0x21 <= ord(c) <= 0x7E for c in t.strip())),
)
bad_expiry = st.one_of(
    st.sampled_from(["0", "-1", "soon", "1e3", "315360001", str(2**70), "nan", "7200 "]),
    text.filter(lambda t: not t.strip().isdigit()),
).filter(lambda t: t.strip() != "")
relay_extra = st.fixed_dictionaries(
    {}, optional={"scope": hostile_text, "error_description": hostile_text, "junk": hostile_text}
)


def relay_cases(real: str) -> st.SearchStrategy[Case]:
    return st.one_of(
        st.builds(
            lambda s, t, extra: Case("wrong-state", s, {"access_token": t, **extra}, {}, False),
            _wrong_state(real),
            st.one_of(ascii_token, hostile_text),
            relay_extra,
        ),
        st.builds(
            lambda e, t, extra: Case(
                "error", real, {"error": e, "access_token": t, **extra}, {}, False
            ),
            hostile_text.filter(bool),
            ascii_token,
            relay_extra,
        ),
        st.builds(
            lambda t, extra: Case("bad-token", real, {"access_token": t, **extra}, {}, False),
            bad_fragment_token,
            relay_extra,
        ),
        st.builds(
            lambda t, x, extra: Case(
                "bad-token", real, {"access_token": t, "expires_in": x, **extra}, {}, False
            ),
            ascii_token,
            bad_expiry,
            relay_extra,
        ),
        st.builds(
            lambda t, tt, extra: Case(
                "bad-token", real, {"access_token": t, "token_type": tt, **extra}, {}, False
            ),
            ascii_token,
            st.one_of(
                st.sampled_from(["mac", "Basic", "bearer2", "Bearer\x00", "\u0392earer"]),
                st.text(min_size=1, max_size=20).filter(
                    lambda v: v.strip()[:40].lower() not in ("bearer", "")
                ),
            ),
            relay_extra,
        ),
        st.builds(
            lambda t, info, profile, extra: Case(
                "bad-profile",
                real,
                {"access_token": t, **extra},
                {"info": info, "profile": profile},
                False,
            ),
            ascii_token,
            st.one_of(info_reply, good_info_reply),
            bad_profile_reply,
            relay_extra,
        ),
        st.builds(
            lambda info, extra: Case(
                "bad-profile",
                real,
                {"access_token": "good-at", **extra},
                {"info": info, "profile": Reply(200, _json({"id": 7}))},
                False,
            ),
            st.one_of(
                st.builds(Reply, st.sampled_from([401, 500, 503]), json_values.map(_json)),
                st.just(Reply(200, _json({"application": {"uid": "another-app"}}))),
                st.just(Reply(404, b"{}")),
                st.just(Reply(200, _json({"resource_owner_id": 7}))),
                st.just(Reply(200, b"not json")),
                st.just(Reply(200, b"[]")),
                st.builds(Reply, failure=st.just("reset")),
            ),
            relay_extra,
        ),
        st.builds(
            lambda info, profile, x, extra: Case(
                "hostile-valid",
                real,
                {"access_token": "good-at", **({"expires_in": x} if x else {}), **extra},
                {"info": info, "profile": profile},
                True,
            ),
            good_info_reply,
            hostile_valid_profile,
            st.one_of(st.none(), st.integers(1, 315360000).map(str)),
            relay_extra.map(lambda d: {k: v for k, v in d.items() if k != "error_description"}),
        ),
    )


@FUZZ_SETTINGS
@given(data=st.data())
def test_relay_never_500_never_links_bad_input(browser, scf, implicit_state, data):
    with IMPLICIT_APP:
        real = implicit_state
        case = data.draw(relay_cases(real), label="case")
        fields: dict[str, Any] = dict(case.params)
        if case.state is not None:
            fields["state"] = case.state
        body = _encoded(fields)
        _run(
            browser,
            scf,
            case,
            lambda: browser.post(
                reverse("seeclickfix_relay"), body, content_type="application/x-www-form-urlencoded"
            ),
        )
