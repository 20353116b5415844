"""Deterministic data sets. The same seed name always yields the same users, issues and comments.

``demo``: two places (``new-haven`` with most issues, ``hartford``), request types with questions,
three named users (a resident with 30 reported issues, a newcomer with none, an official who can
acknowledge) plus a dozen neighbours, 300 issues created and updated over 2016-2025, comments,
votes, and a personal access token for the official.
``empty``: places and request types only.
``generate_issues`` / ``generate_users`` add large volumes quickly for benchmarks.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .models import STATUSES, Comment, Issue, Place, Question, RequestType, User, Vote
from .state import State

SEEDS = ("demo", "empty")
SEED_START = datetime(2016, 1, 4, 14, 0, tzinfo=UTC)
SEED_END = datetime(2025, 10, 31, 21, 0, tzinfo=UTC)

NEW_HAVEN = Place(
    3039, "New Haven", "new-haven", "New Haven", "CT", (41.2466, -72.9975, 41.3504, -72.8600)
)
HARTFORD = Place(
    3040, "Hartford", "hartford", "Hartford", "CT", (41.7237, -72.7180, 41.8074, -72.6415)
)
STREETS = {
    "new-haven": (
        "Chapel St",
        "Church St",
        "Elm St",
        "Whalley Ave",
        "Orange St",
        "State St",
        "Crown St",
        "College St",
        "Grand Ave",
        "Dixwell Ave",
        "Edgewood Ave",
    ),
    "hartford": ("Main St", "Asylum Ave", "Farmington Ave", "Park St", "Albany Ave"),
}
ZIP = {"new-haven": "06510", "hartford": "06103"}

POTHOLE, STREETLIGHT, GRAFFITI, DUMPING = 121, 122, 123, 124
DESCRIPTIONS = {
    POTHOLE: ("Pothole", "Deep pothole in the right lane, cars swerve around it."),
    STREETLIGHT: ("Streetlight Out", "The light on this pole has been out for a week."),
    GRAFFITI: ("Graffiti", "Fresh graffiti on the wall facing the street."),
    DUMPING: ("Illegal Dumping", "Mattress and bags left on the sidewalk."),
    "other": ("Other", "Something that fits no category."),
}
FIRST_NAMES = (
    "Ada",
    "Ben",
    "Cleo",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "June",
    "Kai",
    "Lena",
    "Milo",
    "Nia",
    "Otto",
    "Pia",
)
LAST_NAMES = (
    "Alvarez",
    "Brooks",
    "Chen",
    "Diallo",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
)
WITTY_TITLES = ("Street Smart", "Neighborhood Hero", "Pothole Hunter", "Civic Star")
COMMENTS = (
    "Me too",
    "Still there this morning.",
    "Thanks for reporting!",
    "The city crew came by but left.",
    "Getting worse after the rain.",
)


@dataclass(frozen=True)
class DemoUser:
    key: str
    name: str
    email: str
    password: str
    can_acknowledge: bool = False


RESIDENT = DemoUser("resident", "Rita Resident", "rita@example.com", "rita-demo-password")
NEWCOMER = DemoUser("newcomer", "Nora Newcomer", "nora@example.com", "nora-demo-password")
OFFICIAL = DemoUser("official", "Oscar Official", "oscar@example.com", "oscar-demo-password", True)
RESIDENT_ISSUES = 30
DEMO_ISSUES = 300


def add_places_and_request_types(state: State) -> None:
    for place in (NEW_HAVEN, HARTFORD):
        state.places[place.url_name] = Place(
            place.id, place.name, place.url_name, place.county, place.state, place.bbox
        )
    for url_name, city in (("new-haven", "City of New Haven"), ("hartford", "City of Hartford")):
        offset = 0 if url_name == "new-haven" else 100
        state.request_types[POTHOLE + offset] = RequestType(
            POTHOLE + offset,
            "Pothole",
            city,
            url_name,
            [
                Question(
                    "q_depth",
                    "How deep is the pothole?",
                    "select",
                    True,
                    ("Shallow", "Deep", "Very deep"),
                ),
                Question("q_hazard", "Is it hazardous?", "select", False, ("Yes", "No")),
            ],
        )
        state.request_types[STREETLIGHT + offset] = RequestType(
            STREETLIGHT + offset,
            "Streetlight Out",
            city,
            url_name,
            [Question("q_pole", "Pole number (on the tag)", "text", False)],
        )
        state.request_types[GRAFFITI + offset] = RequestType(
            GRAFFITI + offset, "Graffiti", city, url_name
        )
        state.request_types[DUMPING + offset] = RequestType(
            DUMPING + offset, "Illegal Dumping", city, url_name
        )


def personal_token_for(seed: str, user: User) -> str:
    """The demo's personal access token: stable per seed, and shaped like CivicPlus ones
    (opaque, with ``/`` and ``-`` in it) so clients prove they do not mangle such tokens."""
    digest = hashlib.sha256(f"{seed}:{user.id}:pat".encode()).hexdigest()
    return f"cp-{digest[:20]}/{digest[20:36]}-{digest[36:44]}"


def _spread(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(max(1, seconds)))


def _make_issue_fields(
    rng: random.Random, place: Place, start: datetime, end: datetime
) -> dict[str, object]:
    request_type = rng.choice((POTHOLE, POTHOLE, STREETLIGHT, GRAFFITI, DUMPING, "other"))
    summary, description = DESCRIPTIONS[request_type]
    offset = 0 if place.url_name == "new-haven" else 100
    typed = request_type + offset if isinstance(request_type, int) else request_type
    min_lat, min_lng, max_lat, max_lng = place.bbox
    created = _spread(rng, start, end)
    updated = min(end, created + timedelta(seconds=rng.randrange(1, 2 * 365 * 86400)))
    status = rng.choices(STATUSES, weights=(40, 20, 30, 10))[0]
    answers: dict[str, str] = {}
    if request_type == POTHOLE:
        answers = {"q_depth": rng.choice(("Shallow", "Deep", "Very deep")), "q_hazard": "No"}
    fields: dict[str, object] = {
        "summary": summary,
        "description": description,
        "request_type_id": typed,
        "lat": round(rng.uniform(min_lat, max_lat), 6),
        "lng": round(rng.uniform(min_lng, max_lng), 6),
        "address": f"{rng.randrange(1, 1400)} {rng.choice(STREETS[place.url_name])} "
        f"{place.name}, {place.state} {ZIP[place.url_name]}, USA",
        "created_at": created,
        "updated_at": updated,
        "status": status,
        "rating": rng.randrange(1, 21),
        "answers": answers,
        "has_media": rng.random() < 0.3,
    }
    if status != "Open":
        # an acknowledgement happened somewhere between report and last update
        fields["acknowledged_at"] = created + (updated - created) / 3
    if status in ("Closed", "Archived"):
        fields["closed_at"] = updated
    return fields


def seed(state: State, name: str) -> list[tuple[int, str]]:
    """Fill an empty ``state`` with the named data set. Returns the personal access tokens to
    mint, as (user id, token)."""
    if name not in SEEDS:
        raise ValueError(f"unknown seed {name!r}; known seeds: {', '.join(SEEDS)}")
    add_places_and_request_types(state)
    if name == "demo":
        return _seed_demo(state, name)
    return []


def _seed_demo(state: State, name: str) -> list[tuple[int, str]]:
    rng = random.Random(name)
    created = SEED_START - timedelta(days=400)
    named = {}
    for demo in (RESIDENT, NEWCOMER, OFFICIAL):
        named[demo.key] = state.add_user(
            demo.name,
            demo.email,
            demo.password,
            can_acknowledge=demo.can_acknowledge,
            role="Verified Official" if demo.can_acknowledge else "Registered User",
            civic_points=rng.randrange(10, 500),
            created_at=created,
            updated_at=created + timedelta(days=30),
            home_place="new-haven",
        )
    official = named["official"]
    official.other_emails = [("oscar@newhavenct.gov", True), ("oscar.old@example.com", False)]
    neighbours = [
        state.add_user(
            f"{first} {last}",
            f"{first.lower()}.{last.lower()}@example.com",
            f"{first.lower()}-demo-password",
            civic_points=rng.randrange(0, 300),
            witty_title=rng.choice(WITTY_TITLES),
            created_at=_spread(rng, created, SEED_START),
        )
        for first, last in zip(FIRST_NAMES[:12], LAST_NAMES, strict=True)
    ]
    people = [named["resident"], named["newcomer"], official, *neighbours]
    reporters = [named["resident"]] * RESIDENT_ISSUES + [
        neighbours[n % len(neighbours)] for n in range(DEMO_ISSUES - RESIDENT_ISSUES)
    ]
    rng.shuffle(reporters)
    for n, reporter in enumerate(reporters):
        place = HARTFORD if n % 7 == 3 else NEW_HAVEN
        fields = _make_issue_fields(rng, place, SEED_START, SEED_END)
        if fields["status"] != "Open" and rng.random() < 0.7:
            fields["assignee"] = official
        if rng.random() < 0.2:
            fields["integration"] = {
                "remote_id": rng.randrange(1000, 99999),
                "title": f"City of {place.name}",
                "status": "Accepted",
            }
        issue = state.add_issue(reporter, **fields)
        _add_activity(rng, state, issue, people)
    # The first issue carries every optional part, so one request shows the full shape.
    first = state.issues[min(state.issues)]
    first.assignee_id = official.id
    first.integration = {"remote_id": 2, "title": "City of New Haven", "status": "Accepted"}
    first.has_media = True
    first.request_type_id, first.summary = POTHOLE, "Pothole"
    first.description = DESCRIPTIONS[POTHOLE][1]
    first.answers = {"q_depth": "Shallow", "q_hazard": "No"}
    if not state.visible_comments(first):
        _add_activity(rng, state, first, people, at_least=2)
    state.touch()
    return [(official.id, personal_token_for(name, official))]


def _add_activity(
    rng: random.Random, state: State, issue: Issue, people: list[User], at_least: int = 0
) -> None:
    span = max(1.0, (issue.updated_at - issue.created_at).total_seconds())
    for _ in range(max(at_least, rng.choices((0, 1, 2, 3, 4), weights=(35, 30, 20, 10, 5))[0])):
        when = (issue.created_at + timedelta(seconds=rng.uniform(0, span))).replace(microsecond=0)
        issue.comments.append(Comment(rng.choice(people).id, rng.choice(COMMENTS), when, when))
    issue.comments.sort(key=lambda c: c.created_at)
    for voter in rng.sample(people, rng.randrange(0, 4)):
        when = issue.created_at + timedelta(seconds=rng.uniform(0, span))
        issue.votes.append(Vote(voter.id, when.replace(microsecond=0)))
        issue.followers.add(voter.id)


def generate_users(state: State, count: int, *, prefix: str = "user") -> list[User]:
    """``count`` plain residents; user N has email ``<prefix><id>@example.com`` and password
    ``password-<id>``."""
    users = []
    with state.lock:
        for _ in range(count):
            user_id = state.next_user_id
            users.append(
                state.add_user(
                    f"{prefix.title()} {user_id}",
                    f"{prefix}{user_id}@example.com",
                    f"password-{user_id}",
                )
            )
    return users


def generate_issues(
    state: State,
    reporter: User,
    count: int,
    *,
    seed_name: str = "bulk",
    start: datetime = SEED_START,
    end: datetime = SEED_END,
    place: str = "new-haven",
) -> list[Issue]:
    """``count`` issues reported by ``reporter``, spread over ``start``..``end``; deterministic
    for a given seed name, reporter and count. No comments (fast: 20,000 in well under a second)."""
    rng = random.Random(f"{seed_name}:{reporter.id}:{count}")
    where = state.places.get(place) or NEW_HAVEN
    with state.lock:
        return [
            state.add_issue(reporter, **_make_issue_fields(rng, where, start, end))
            for _ in range(count)
        ]
