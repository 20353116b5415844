"""Each client method against a mocked SeeClickFix: the request it sends and what it returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from responses import matchers

from django_seeclickfix.client import (
    BasicAuth,
    BearerAuth,
    Created,
    SeeClickFixClient,
    TokenSourceAuth,
    Unlimited,
)
from django_seeclickfix.exceptions import NotFound, ReauthRequired, ValidationError

from .conftest import API, BASE, TOKEN, sample


def test_base_url_is_the_host_root_and_api_v2_is_added(rsps):
    rsps.get(f"{API}/users/2", json={"id": 2, "name": "B"})
    for root in (BASE, BASE + "/", BASE + "/api/v2"):
        assert SeeClickFixClient(root, None, budget=Unlimited()).api_url == API
    with pytest.raises(ValueError, match="host root"):
        SeeClickFixClient("seeclickfix.com", None)


def test_get_profile(rsps, client):
    rsps.get(f"{API}/profile", json=sample("profile_logged_in"))
    profile = client.get_profile()
    assert (profile.id, profile.name) == (1, "captainkickstand")
    assert profile.raw["witty_title"] == "Street Smart"


def test_profile_id_null_with_a_fixed_token_needs_reauth(rsps, client):
    rsps.get(f"{API}/profile", json=sample("profile_not_logged_in"))
    with pytest.raises(ReauthRequired):
        client.get_profile()
    assert len(rsps.calls) == 1  # a fixed token has nothing to retry with


def test_profile_id_null_without_credentials(rsps):
    rsps.get(f"{API}/profile", json={"id": None})
    with pytest.raises(ReauthRequired, match="no credentials"):
        SeeClickFixClient(BASE, None, budget=Unlimited()).get_profile()


def test_basic_auth_header_and_repr(rsps):
    rsps.get(f"{API}/profile", json=sample("profile_logged_in"))
    auth = BasicAuth("api@city.gov", "s3cret!")
    SeeClickFixClient(BASE, auth, budget=Unlimited()).get_profile()
    assert "s3cret" not in repr(auth)
    assert "s3cret" not in repr(auth.credential())


def test_list_emails(rsps, client):
    rsps.get(
        f"{API}/emails",
        json={"emails": [{"id": 1, "confirmed": True, "email": "a@b.org"}], "errors": {}},
    )
    [email] = client.list_emails()
    assert (email.email, email.confirmed) == ("a@b.org", True)


def test_get_issue_with_and_without_details(rsps, client):
    rsps.get(
        f"{API}/issues/1",
        json=sample("issue_details"),
        match=[matchers.query_param_matcher({"details": "true"})],
    )
    rsps.get(
        f"{API}/issues/2",
        json=dict(sample("issues_list")["issues"][0], id=2),
        match=[matchers.query_param_matcher({})],
    )
    detailed = client.get_issue(1, details=True)
    assert detailed.comments is not None
    assert client.get_issue(2).id == 2


def test_get_issue_not_found(rsps, client):
    rsps.get(f"{API}/issues/9", status=404)
    with pytest.raises(NotFound):
        client.get_issue(9)


def test_list_comments(rsps, client):
    rsps.get(f"{API}/issues/1/comments", json=sample("comments_list"))
    [comment] = client.list_comments(1)
    assert comment.text == "Me too"
    assert comment.created_at == datetime(2011, 4, 14, 16, 0, 49, tzinfo=UTC)


def test_add_comment_created(rsps, client):
    rsps.post(
        f"{API}/issues/1/comments",
        status=201,
        json=sample("comment_created"),
        match=[matchers.json_params_matcher({"comment": "Pothole getting larger"})],
    )
    created = client.add_comment(1, "Pothole getting larger")
    assert isinstance(created, Created)
    assert created.moderated is False
    assert created.item is not None
    assert created.item.text == "Pothole getting larger every day"
    assert created.status == 201


def test_add_comment_held_for_moderation(rsps, client):
    rsps.post(f"{API}/issues/1/comments", status=202, json={"metadata": {"moderated": True}})
    created = client.add_comment(1, "Hello")
    assert (created.moderated, created.id, created.item) == (True, None, None)


def test_comment_text_is_required(client):
    with pytest.raises(ValueError, match="comment text"):
        client.add_comment(1, "  ")


@pytest.mark.parametrize(
    ("method", "path"),
    [("close_issue", "close"), ("reopen_issue", "open"), ("acknowledge_issue", "acknowledge")],
)
def test_status_changes_send_a_comment(rsps, client, method, path):
    body = dict(sample("comment_created"), id=55, issue={"status": "Closed"})
    rsps.post(
        f"{API}/issues/4/{path}",
        status=201,
        json=body,
        match=[matchers.json_params_matcher({"comment": "Done"})],
    )
    created = getattr(client, method)(4, "Done")
    assert created.id == 55
    assert created.item.issue_status == "closed"


@pytest.mark.parametrize(
    ("method", "verb", "path"),
    [
        ("follow", "POST", "follow"),
        ("unfollow", "DELETE", "follow"),
        ("vote", "POST", "vote"),
        ("unvote", "DELETE", "vote"),
    ],
)
def test_follow_and_vote(rsps, client, method, verb, path):
    status = 201 if verb == "POST" else 204
    rsps.add(
        verb, f"{API}/issues/8/{path}", status=status, json={path: 1} if status == 201 else None
    )
    assert getattr(client, method)(8) is None
    assert rsps.calls[0].request.method == verb


def test_following_twice_is_an_error(rsps, client):
    rsps.post(
        f"{API}/issues/8/follow", status=422, json={"errors": {"follow": ["already following"]}}
    )
    with pytest.raises(ValidationError) as caught:
        client.follow(8)
    assert caught.value.errors == {"follow": ["already following"]}
    assert str(caught.value).endswith("(422): follow: already following.")


def test_request_types_questions_and_create_issue(rsps, client):
    rsps.get(
        f"{API}/issues/new",
        json={
            "errors": None,
            "request_types": [
                {"id": 12, "title": "Pothole", "url": f"{API}/request_types/12"},
                {"id": "other", "title": "Other"},
            ],
        },
        match=[matchers.query_param_matcher({"lat": "41.3", "lng": "-72.9"})],
    )
    rsps.get(
        f"{API}/request_types/12",
        json={
            "id": 12,
            "title": "Pothole",
            "questions": [
                {"primary_key": "summary", "question": "Summary", "response_required": True},
                {
                    "primary_key": "depth",
                    "question": "How deep?",
                    "select_values": ["deep", "shallow"],
                },
            ],
        },
    )
    rsps.post(f"{API}/issues", status=201, json=dict(sample("issues_list")["issues"][0], id=77))
    kinds = client.request_types_at(41.3, -72.9)
    assert [k.id for k in kinds] == [12, "other"]
    kind = client.get_request_type(12)
    assert [q.primary_key for q in kind.questions] == ["summary", "depth"]
    created = client.create_issue(
        lat=41.3,
        lng=-72.9,
        request_type_id=12,
        answers={"summary": "Big hole", "depth": "deep"},
        address="1 Elm St",
    )
    assert (created.id, created.moderated) == (77, False)
    assert created.item.id == 77
    sent = json.loads(rsps.calls[-1].request.body)
    assert sent == {
        "lat": 41.3,
        "lng": -72.9,
        "request_type_id": 12,
        "address": "1 Elm St",
        "answers": {"summary": "Big hole", "depth": "deep"},
    }


def test_create_issue_moderated(rsps, client):
    rsps.post(f"{API}/issues", status=202, json={"metadata": {"moderated": True}})
    created = client.create_issue(
        lat=1, lng=2, request_type_id="other", summary="S", description="D"
    )
    assert (created.moderated, created.id, created.item) == (True, None, None)
    assert json.loads(rsps.calls[0].request.body)["description"] == "D"


def test_get_user(rsps, client):
    rsps.get(f"{API}/users/3", json={"id": "3", "name": "Cee", "civic_points": "40"})
    user = client.get_user(3)
    assert (user.id, user.name, user.civic_points) == (3, "Cee", 40)


def test_escape_hatch_request_for_calls_without_a_method(rsps, client):
    rsps.get(f"{API}/places", json=sample("places_list"))
    response = client.request("GET", "/places")
    assert response.json()["places"][0]["name"] == "New Haven"


# the account-backed bearer: refresh and retry once ------------------------------------------


class Source:
    """A TokenSource like the linking's: hands out tokens, records every refusal."""

    identity = "account:7"

    def __init__(self, tokens):
        self.current = tokens[0]
        self.replacements = list(tokens[1:])
        self.calls = []

    def get_token(self):
        return self.current

    def token_rejected(self, token, *, final):
        self.calls.append((token, final))
        if final or not self.replacements:
            return None
        self.current = self.replacements.pop(0)
        return self.current


def bearer_of(call):
    return call.request.headers.get("Authorization")


INVALID_401 = {
    "status": 401,
    "json": {"error": "invalid_token"},
    "headers": {"WWW-Authenticate": 'Bearer realm="Doorkeeper", error="invalid_token"'},
}
INVALID_403 = {
    "status": 403,
    "json": {"error": "invalid_token", "error_description": "The access token expired"},
    "headers": {"WWW-Authenticate": 'Bearer error="invalid_token"'},
}


@pytest.mark.parametrize("refusal", [INVALID_401, INVALID_403], ids=["401", "403"])
def test_refused_token_is_replaced_and_retried_once(rsps, refusal):
    seen = []

    def reply(request):
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer old":
            return refusal["status"], refusal["headers"], json.dumps(refusal["json"])
        return 200, {}, json.dumps({"emails": []})

    rsps.add_callback("GET", f"{API}/emails", callback=reply)
    source = Source(["old", "new"])
    scf = SeeClickFixClient(BASE, TokenSourceAuth(source), budget=Unlimited())
    assert scf.list_emails() == []
    assert seen == ["Bearer old", "Bearer new"]
    assert source.calls == [("old", False)]


def test_profile_id_null_is_an_invalid_token_answer_too(rsps):
    def reply(request):
        ok = request.headers["Authorization"] == "Bearer new"
        return 200, {}, json.dumps(sample("profile_logged_in") if ok else {"id": None})

    rsps.add_callback("GET", f"{API}/profile", callback=reply)
    source = Source(["old", "new"])
    profile = SeeClickFixClient(BASE, TokenSourceAuth(source), budget=Unlimited()).get_profile()
    assert profile.id == 1
    assert source.calls == [("old", False)]


def test_second_refusal_is_final_and_needs_reauth(rsps):
    rsps.get(f"{API}/emails", **INVALID_401)
    source = Source(["old", "new", "newer"])
    scf = SeeClickFixClient(BASE, TokenSourceAuth(source), budget=Unlimited())
    with pytest.raises(ReauthRequired) as caught:
        scf.list_emails()
    assert source.calls == [("old", False), ("new", True)]
    assert len(rsps.calls) == 2  # never a third attempt
    assert "new" not in str(caught.value).split()


def test_source_giving_up_needs_reauth_without_a_retry(rsps):
    rsps.get(f"{API}/emails", **INVALID_401)
    source = Source(["only"])
    with pytest.raises(ReauthRequired):
        SeeClickFixClient(BASE, TokenSourceAuth(source), budget=Unlimited()).list_emails()
    assert source.calls == [("only", False)]
    assert len(rsps.calls) == 1


def test_source_without_a_token_needs_reauth(rsps):
    source = Source([""])
    with pytest.raises(ReauthRequired):
        SeeClickFixClient(BASE, TokenSourceAuth(source), budget=Unlimited()).list_emails()
    assert len(rsps.calls) == 0


def test_bearer_auth_refuses_empty_tokens_and_hides_them():
    with pytest.raises(ValueError, match="non-empty"):
        BearerAuth(" ")
    auth = BearerAuth(TOKEN)
    assert TOKEN not in repr(auth)
    assert TOKEN not in repr(auth.credential())
    assert TOKEN not in auth.credential().identity
    assert TOKEN not in repr(SeeClickFixClient(BASE, auth, budget=Unlimited()))
    with pytest.raises(ValueError, match="email and a password"):
        BasicAuth("", "x")
