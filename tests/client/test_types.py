from datetime import UTC, datetime

from django_seeclickfix.client import Comment, Email, Issue, Profile, RequestType, User

from .conftest import sample


def test_issue_from_the_documented_list_sample():
    raw = sample("issues_list")["issues"][0]
    issue = Issue.from_json(raw, 1)
    assert issue.id == 1
    assert issue.status == "open"
    assert issue.summary == "Pothole"
    assert issue.description == "Please fix my neighborhood."
    assert issue.address == "123 State St. New Haven, CT"
    assert (issue.lat, issue.lng) == (42.30293, -72.234234234)
    assert issue.rating == 5  # a string in the docs
    assert issue.created_at == datetime(2011, 4, 22, 13, 33, 48, tzinfo=UTC)
    assert issue.acknowledged_at is None
    assert issue.html_url == "http://seeclickfix.com/issues/1-pothole"
    assert issue.reporter is not None
    assert issue.reporter.name == "Jeffb"
    assert issue.comments is None  # not a details fetch
    assert issue.raw is raw
    assert "comments_url" in issue.raw  # unknown fields stay in raw


def test_issue_details_sample_with_offsets_comments_and_relationship():
    issue = Issue.from_json(sample("issue_details"), 1)
    assert issue.created_at == datetime(2008, 3, 25, 16, 32, 41, tzinfo=UTC)  # -04:00 offset
    assert issue.comments is not None
    assert len(issue.comments) == 2
    # No "id" key: the id is read from flag_url (…/comments/12345/flag in both samples).
    assert [c.id for c in issue.comments] == [12345, 12345]
    assert issue.questions[0]["question"] == "How deep is the pothole?"
    assert issue.current_user_relationship == {
        "assignee": False,
        "following": False,
        "reporter": False,
        "voted": True,
    }
    assert issue.assignee is not None
    assert issue.vote_count == 2


def test_issue_tolerates_missing_and_odd_fields():
    issue = Issue.from_json({"id": "7", "rating": 3, "status": None, "lat": "x", "reporter": {}}, 7)
    assert issue.rating == 3
    assert issue.status is None
    assert issue.lat is None
    assert issue.reporter is None
    assert issue.updated_at is None


def test_profile_sample():
    raw = sample("profile_logged_in")
    profile = Profile.from_json(raw, 1)
    assert profile.name == "captainkickstand"
    assert profile.can_acknowledge is False
    assert profile.reported_issue_count == 25
    assert profile.created_at == datetime(2011, 3, 22, 21, 4, 31, tzinfo=UTC)
    assert profile.email is None  # observed in 2026 but optional


def test_comment_samples_with_null_strings():
    created = Comment.from_json(sample("comment_created"))
    assert created.id is None
    assert created.text == "Pothole getting larger every day"
    assert created.issue_status == "acknowledged"
    assert created.moderated is False
    assert created.raw["media"]["video_url"] == "null"
    listed = Comment.from_json(sample("comments_list")["comments"][0])
    assert listed.commenter is not None
    assert listed.commenter.role == "Verified Official"
    assert listed.issue_status == "archived"


def test_email_user_and_request_type():
    email = Email.from_json({"id": 3, "confirmed": "true", "email": "a@example.org"})
    assert (email.id, email.confirmed, email.email) == (3, True, "a@example.org")
    user = User.from_json({"id": "9", "name": "Ann", "avatar": {"full": "https://x/a.png"}})
    assert (user.id, user.avatar_url) == (9, "https://x/a.png")
    kind = RequestType.from_json(
        {
            "id": "other",
            "title": "Other",
            "organization": {"name": "City"},
            "questions": [
                {
                    "primary_key": "depth",
                    "question": "How deep?",
                    "response_required": "true",
                    "select_values": [{"key": "deep"}, "shallow", None],
                },
                {"question": "no key"},
            ],
        }
    )
    assert kind.id == "other"
    assert kind.organization == "City"
    assert [q.primary_key for q in kind.questions] == ["depth"]
    assert kind.questions[0].required is True
    assert kind.questions[0].choices == ("deep", "shallow")


def test_repr_does_not_dump_raw():
    issue = Issue.from_json(sample("issue_details"), 1)
    assert "comment_url" not in repr(issue)


def test_real_comment_takes_its_id_from_flag_url():
    real = {
        "comment": "Fixed this morning.",
        "created_at": "2026-02-03T10:11:12-05:00",
        "updated_at": "2026-02-03T10:11:12-05:00",
        "editable_until": "2026-02-03T10:26:12-05:00",
        "last_edited_at": None,
        "show_blocked_comment_text": False,
        "commenter": {"id": 7, "name": "Public Works"},
        "media": {"image_full": None, "image_square_100x100": None, "video_url": None},
        "issue_url": "https://seeclickfix.com/api/v2/issues/5",
        "flag_url": "https://seeclickfix.com/api/v2/comments/987654/flag",
    }
    assert Comment.from_json(real).id == 987654
    # A link without an id (the emulator's old form) or a malformed one gives no id.
    assert Comment.from_json({**real, "flag_url": ".../issues/5/comments/flag"}).id is None
    assert Comment.from_json({**real, "flag_url": None}).id is None
    assert Comment.from_json({**real, "id": 3}).id == 3
