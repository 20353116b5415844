import pytest
from django.core.checks import run_checks
from django.test import override_settings

from tests import settings as base

pytestmark = pytest.mark.django_db  # W001 and W005 read SocialApp and Site

KEY = base.SEECLICKFIX["TOKEN_KEYS"][0]


def set_site_domain(domain):
    from django.contrib.sites.models import Site

    Site.objects.filter(pk=1).update(domain=domain)
    Site.objects.clear_cache()


@pytest.fixture(autouse=True)
def _named_site():
    # A fresh test database holds the sites framework's placeholder, which W005 reports.
    set_site_domain("testserver")
    yield
    set_site_domain("example.com")


def ids():
    return sorted(
        m.id for m in run_checks() if m.id.startswith("django_seeclickfix") and not m.is_silenced()
    )


def test_silent_when_configured_right():
    assert ids() == []


@override_settings(SEECLICKFIX={"RATE_LIMIT_REQUESTS": -1, "TOKEN_KEYS": [KEY]})
def test_e001_bad_setting():
    messages = [m for m in run_checks() if m.id == "django_seeclickfix.E001"]
    assert len(messages) == 1
    assert 'SEECLICKFIX["RATE_LIMIT_REQUESTS"]' in messages[0].msg


@override_settings(INSTALLED_APPS=[a for a in base.INSTALLED_APPS if a != "allauth.socialaccount"])
def test_e002_allauth_apps_missing():
    assert "django_seeclickfix.E002" in ids()


def test_e003_is_retired_because_allauth_refuses_to_start_without_its_middleware():
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    config = apps.get_app_config("account")
    with (
        override_settings(MIDDLEWARE=[m for m in base.MIDDLEWARE if "allauth" not in m]),
        pytest.raises(ImproperlyConfigured, match="AccountMiddleware"),
    ):
        config.ready()


@override_settings(SEECLICKFIX={})
def test_e004_no_token_keys():
    assert ids() == ["django_seeclickfix.E004"]


@override_settings(SEECLICKFIX={"TOKEN_KEYS": [KEY, "not-a-fernet-key-SENTINEL"]})
def test_e005_bad_fernet_key_is_reported_by_position_not_value():
    messages = [m for m in run_checks() if m.id == "django_seeclickfix.E005"]
    assert len(messages) == 1
    assert '["TOKEN_KEYS"][1]' in messages[0].msg
    assert "SENTINEL" not in messages[0].msg + (messages[0].hint or "")


@pytest.mark.parametrize(
    "providers", [{}, {"seeclickfix": {"APPS": []}}, {"seeclickfix": {"APP": {"secret": "x"}}}]
)
def test_w001_no_credentials(providers):
    with override_settings(SOCIALACCOUNT_PROVIDERS=providers):
        assert ids() == ["django_seeclickfix.W001"]


def test_w001_silent_with_a_single_app_setting():
    with override_settings(SOCIALACCOUNT_PROVIDERS={"seeclickfix": {"APP": {"client_id": "id"}}}):
        assert ids() == []


@override_settings(SILENCED_SYSTEM_CHECKS=["django_seeclickfix.W006"])
def test_w002_locmem_budget_outside_debug():
    assert ids() == ["django_seeclickfix.W002"]
    with override_settings(DEBUG=True):
        assert ids() == []


@override_settings(
    SILENCED_SYSTEM_CHECKS=["django_seeclickfix.W006"],
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    },
)
def test_w002_silent_with_a_shared_cache():
    assert ids() == []


@override_settings(
    SILENCED_SYSTEM_CHECKS=["django_seeclickfix.W006"],
    SEECLICKFIX={"TOKEN_KEYS": [KEY], "RATE_LIMIT_CACHE": "budget"},
)
def test_w002_alias_not_in_caches():
    assert ids() == ["django_seeclickfix.W002"]


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_w003_eager_celery_outside_debug():
    assert ids() == ["django_seeclickfix.W003"]
    with override_settings(DEBUG=True):
        assert ids() == []


def test_w003_reads_the_celery_app_too():
    from celery import current_app

    current_app.conf.task_always_eager = True
    try:
        assert ids() == ["django_seeclickfix.W003"]
    finally:
        current_app.conf.task_always_eager = False


@override_settings(INSTALLED_APPS=[a for a in base.INSTALLED_APPS if a != "django.contrib.sites"])
def test_e006_no_site_url_and_no_sites_framework():
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [KEY]}):
        assert ids() == ["django_seeclickfix.E006"]
    with override_settings(
        SEECLICKFIX={"TOKEN_KEYS": [KEY], "SITE_URL": "https://civic.example.org"}
    ):
        assert ids() == []


def test_w004_feed_slower_than_per_user_syncs():
    areas = [{"NAME": "nh", "PLACE_URL": "new-haven"}]
    slow = {"TOKEN_KEYS": [KEY], "AREAS": areas, "FEED_INTERVAL": 900, "SYNC_INTERVAL": 900}
    with override_settings(SEECLICKFIX=slow):
        assert ids() == ["django_seeclickfix.W004"]
    with override_settings(SEECLICKFIX={**slow, "FEED_INTERVAL": 300}):
        assert ids() == []
    with override_settings(SEECLICKFIX={**slow, "AREAS": []}):
        assert ids() == []


def test_w001_silent_when_the_app_is_a_social_app_in_the_database():
    from allauth.socialaccount.models import SocialApp

    with override_settings(SOCIALACCOUNT_PROVIDERS={}):
        assert ids() == ["django_seeclickfix.W001"]
        SocialApp.objects.create(provider="seeclickfix", name="SCF", client_id="db-id")
        assert ids() == []


def test_w005_placeholder_site_outside_debug():
    set_site_domain("example.com")
    without_site_url = {"TOKEN_KEYS": [KEY]}
    with override_settings(
        SEECLICKFIX=without_site_url,
        SILENCED_SYSTEM_CHECKS=["django_seeclickfix.W002", "django_seeclickfix.W006"],
    ):
        assert ids() == ["django_seeclickfix.W005"]
        with override_settings(DEBUG=True):
            assert ids() == []
        set_site_domain("civic.example.org")
        assert ids() == []


@override_settings(SILENCED_SYSTEM_CHECKS=["django_seeclickfix.W002"])
def test_w006_plain_http_redirect_uri_outside_debug():
    message = next(m for m in run_checks() if m.id == "django_seeclickfix.W006")
    assert "http://testserver/" in message.msg
    with override_settings(DEBUG=True):
        assert ids() == []
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [KEY], "SITE_URL": "https://civic.example"}):
        assert ids() == []


@override_settings(SOCIALACCOUNT_LOGIN_ON_GET=True)
def test_w007_login_on_get():
    assert ids() == ["django_seeclickfix.W007"]


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8001", ["django_seeclickfix.W008"]),
        ("http://localhost:8001", ["django_seeclickfix.W008"]),
        ("https://proxy.example.org", []),
    ],
)
def test_w008_production_environment_on_a_loopback_base_url(base_url, expected):
    configured = {**base.SEECLICKFIX, "ENVIRONMENT": "production", "BASE_URL": base_url}
    with override_settings(SEECLICKFIX=configured):
        assert ids() == expected
    with override_settings(SEECLICKFIX={**configured, "ENVIRONMENT": "emulator"}):
        assert ids() == []


@override_settings(SEECLICKFIX={"TOKEN_KEYS": [KEY], "SYNC_INTERVALL": 60})
def test_e001_unknown_key_suggests_the_close_one():
    message = next(m for m in run_checks() if m.id == "django_seeclickfix.E001")
    assert "SYNC_INTERVALL (did you mean SYNC_INTERVAL?)" in message.msg
