"""Only http(s) URLs from SeeClickFix become links (issue 16, #9).

An issue's ``html_url`` or a profile's avatar is whatever SeeClickFix (or whoever controls its
data) sent; a ``javascript:`` URL in an ``href`` runs in the site's origin when clicked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.template import Context, Engine, Template

from django_seeclickfix.client import Issue, parsing
from django_seeclickfix.mirror import upsert_issues
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixIssue

UNSAFE = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/relative/path",
    "https://",
    "http://[bad",
    "https://evil.example/a b",
]
SAFE = ["https://seeclickfix.com/issues/42", "http://test.seeclickfix.com/issues/1?x=1"]

EXAMPLE_TEMPLATES = Path(__file__).resolve().parents[2] / "example_project/civic/templates"


@pytest.mark.parametrize("url", UNSAFE)
def test_non_http_urls_are_not_web_urls(url):
    assert parsing.web_url(url) is None


@pytest.mark.parametrize("url", SAFE)
def test_http_urls_are_kept(url):
    assert parsing.web_url(url) == url


@pytest.mark.django_db
def test_a_javascript_html_url_is_not_stored(django_user_model):
    user = django_user_model.objects.create_user("ada")
    account = SeeClickFixAccount.objects.create(
        user=user, user_scf_id=7, environment="production", access_token="access-token-1"
    )
    issues = [
        Issue.from_json({"id": 1, "html_url": "javascript:alert(1)", "summary": "x"}, 1),
        Issue.from_json({"id": 2, "html_url": SAFE[0], "summary": "y"}, 2),
    ]
    upsert_issues(account, issues, datetime.now(UTC))
    stored = dict(SeeClickFixIssue.objects.values_list("scf_id", "html_url"))
    assert stored == {1: "", 2: SAFE[0]}


@pytest.mark.parametrize("url", UNSAFE)
def test_the_filter_drops_unsafe_urls(url):
    rendered = Template('{% load seeclickfix %}<a href="{{ url|seeclickfix_url }}">x</a>').render(
        Context({"url": url})
    )
    assert rendered == '<a href="">x</a>'


def render_example(name, marker, context):
    """The lines of an example template that mention ``marker``, rendered (the whole page needs
    the whole site)."""
    engine = Engine(
        libraries={
            "seeclickfix": "django_seeclickfix.templatetags.seeclickfix",
            "i18n": "django.templatetags.i18n",
            "humanize": "django.contrib.humanize.templatetags.humanize",
        },
    )
    lines = (EXAMPLE_TEMPLATES / name).read_text().splitlines()
    loads = [line for line in lines if line.startswith("{% load")]
    shown = [line for line in lines if marker in line]
    assert shown, f"{name} no longer mentions {marker}"
    return engine.from_string("\n".join(loads + shown)).render(Context(context))


def test_the_example_issue_page_links_only_http_urls():
    unsafe = render_example(
        "civic/issue.html", "html_url", {"issue": {"html_url": "javascript:alert(1)"}}
    )
    safe = render_example("civic/issue.html", "html_url", {"issue": {"html_url": SAFE[0]}})
    assert "javascript:" not in unsafe
    assert "See it on SeeClickFix" not in unsafe
    assert f'href="{SAFE[0]}"' in safe


def test_the_example_dashboard_shows_only_http_avatars():
    context = {
        "profile": {"avatar": {"square_100x100": "javascript:alert(1)"}},
        "account": {"display_name": "Ada"},
        "linked": True,
    }
    assert "javascript:" not in render_example("civic/dashboard.html", "avatar", context)
