"""Every answer maps to exactly one class of the error tree."""

from __future__ import annotations

import pytest

from django_seeclickfix.client.error_mapping import normalise_422
from django_seeclickfix.exceptions import (
    APIError,
    NotFound,
    PermissionDenied,
    TransientError,
    ValidationError,
)

from .conftest import API


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"lat": "can't be blank"}, {"lat": ["can't be blank"]}),
        ({"errors": {"lat": "can't be blank"}}, {"lat": ["can't be blank"]}),
        (
            {"errors": {"lat": ["can't be blank", "is not a number"], "answers": []}},
            {"lat": ["can't be blank", "is not a number"]},
        ),
        ({"errors": ["Something went wrong"]}, {"__all__": ["Something went wrong"]}),
        ({"errors": None, "message": "Validation failed"}, {"__all__": ["Validation failed"]}),
        ("plain text", {"__all__": ["plain text"]}),
        (None, {}),
    ],
)
def test_the_422_shapes_are_normalised(body, expected):
    assert normalise_422(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"summary": "is too short"},
        {"errors": {"summary": "is too short"}},
        {"errors": {"summary": ["is too short"]}},
    ],
)
def test_create_issue_422_raises_validation_error(rsps, client, body):
    rsps.post(f"{API}/issues", status=422, json=body)
    with pytest.raises(ValidationError) as caught:
        client.create_issue(lat=1.0, lng=2.0, request_type_id=5, answers={"summary": "x"})
    assert caught.value.errors == {"summary": ["is too short"]}
    assert caught.value.status == 422
    assert "summary" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (404, None, NotFound, "Not found"),
        (
            403,
            {"errors": {"base": ["Only officials can acknowledge"]}},
            PermissionDenied,
            "Only officials can acknowledge",
        ),
        (403, {"message": "You are not allowed"}, PermissionDenied, "not allowed"),
        (400, {"request": "Unable to parse JSON"}, APIError, "Unable to parse JSON"),
        (400, {"message": "Bad", "documentation_url": "https://dev"}, APIError, "Bad"),
        (409, None, APIError, "409"),
        (500, None, TransientError, "500"),
        (503, {"message": "down"}, TransientError, "down"),
        (408, None, TransientError, "408"),
    ],
)
def test_statuses_map_to_classes(rsps, client, status, body, error, text):
    rsps.post(f"{API}/issues/3/acknowledge", status=status, json=body)
    with pytest.raises(error) as caught:
        client.acknowledge_issue(3, "On it")
    assert type(caught.value) is error
    assert text in str(caught.value)
    assert caught.value.status == status


def test_a_permission_403_does_not_ask_for_a_new_token(rsps):
    from django_seeclickfix.client import SeeClickFixClient, TokenSourceAuth, Unlimited

    class Source:
        rejected = 0

        def get_token(self):
            return "t1"

        def token_rejected(self, token, *, final):
            self.rejected += 1
            return "t2"

    source = Source()
    scf = SeeClickFixClient("https://scf.example", TokenSourceAuth(source), budget=Unlimited())
    rsps.post(f"{API}/issues/3/acknowledge", status=403, json={"errors": {"base": ["no"]}})
    with pytest.raises(PermissionDenied):
        scf.acknowledge_issue(3, "On it")
    assert source.rejected == 0
    assert len(rsps.calls) == 1


def test_unexpected_3xx_without_location(rsps, client):
    rsps.get(f"{API}/users/1", status=302)
    with pytest.raises(APIError, match="302"):
        client.get_user(1)


def test_401_without_credentials_is_an_api_error(rsps):
    from django_seeclickfix.client import SeeClickFixClient, Unlimited

    rsps.post(f"{API}/issues/1/follow", status=401, json={"message": "sign in"})
    with pytest.raises(APIError) as caught:
        SeeClickFixClient("https://scf.example", None, budget=Unlimited()).follow(1)
    assert caught.value.status == 401
