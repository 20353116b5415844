import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_seeclickfix.conf import SETTINGS, app_settings
from tests import settings as base

KEY = base.SEECLICKFIX["TOKEN_KEYS"][0]


def test_defaults_are_documented_and_valid():
    with override_settings(SEECLICKFIX={}):
        for name, spec in SETTINGS.items():
            assert spec.doc, name
            getattr(app_settings, name)
        assert app_settings.RATE_LIMIT_REQUESTS == 20
        assert app_settings.base_url == "https://seeclickfix.com"


@pytest.mark.parametrize(
    ("environment", "host"),
    [
        ("production", "https://seeclickfix.com"),
        ("test", "https://test.seeclickfix.com"),
        ("int", "https://int.seeclickfix.com"),
    ],
)
def test_environment_picks_the_host(environment, host):
    with override_settings(SEECLICKFIX={"ENVIRONMENT": environment}):
        assert app_settings.base_url == host


def test_base_url_overrides_the_environment_and_is_read_lazily():
    with override_settings(
        SEECLICKFIX={"ENVIRONMENT": "emulator", "BASE_URL": "http://127.0.0.1:8001/"}
    ):
        assert app_settings.base_url == "http://127.0.0.1:8001"
    with override_settings(SEECLICKFIX={"ENVIRONMENT": "test"}):
        assert app_settings.base_url == "https://test.seeclickfix.com"


def test_custom_environment_without_base_url_names_both_keys():
    with (
        override_settings(SEECLICKFIX={"ENVIRONMENT": "emulator"}),
        pytest.raises(ImproperlyConfigured, match=r'SEECLICKFIX\["BASE_URL"\]'),
    ):
        _ = app_settings.base_url


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "RATE_LIMIT_REQUESTS",
            "20",
            r'SEECLICKFIX\["RATE_LIMIT_REQUESTS"\] must be a positive integer',
        ),
        ("RATE_LIMIT_REQUESTS", 0, r"positive integer, got 0"),
        ("RATE_LIMIT_REQUESTS", True, r"positive integer, got True"),
        ("RATE_LIMIT_SCOPE", "ip", r"must be one of 'global', 'token'"),
        ("FLOW", "hybrid", r'SEECLICKFIX\["FLOW"\] must be one of'),
        ("BASE_URL", "seeclickfix.com", r"host root"),
        ("BASE_URL", "https://seeclickfix.com/api/v2", r"without '/api/v2'"),
        ("PKCE", "yes", r"True or False"),
        ("TOKEN_KEYS", 42, r"list of Fernet keys"),
        ("SERVICE_ACCOUNT", {"EMAIL": "a@b.c"}, r"needs TOKEN"),
        ("SERVICE_ACCOUNT", {"TOKN": "x"}, r"unknown keys: \['TOKN'\]"),
        ("SERVICE_ACCOUNT", "SENTINEL-PAT", r"got a str\.$"),
        ("AREAS", [{"NAME": "x"}], r"needs exactly one of them"),
        ("AREAS", [{"NAME": "x", "BBOX": [1, 2, 3]}], r"has BBOX"),
        (
            "AREAS",
            [{"NAME": "x", "PLACE_URL": "a"}, {"NAME": "x", "PLACE_URL": "b"}],
            r"names repeat",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_fix(key, value, expected):
    with (
        override_settings(SEECLICKFIX={key: value}),
        pytest.raises(ImproperlyConfigured, match=expected),
    ):
        getattr(app_settings, key)


def test_unknown_key_is_refused_with_the_known_ones():
    with (
        override_settings(SEECLICKFIX={"RATE_LIMT": 5}),
        pytest.raises(
            ImproperlyConfigured,
            match=r"Unknown SEECLICKFIX key\(s\): RATE_LIMT.*RATE_LIMIT_REQUESTS",
        ),
    ):
        _ = app_settings.RATE_LIMIT_REQUESTS


def test_not_a_dict():
    with (
        override_settings(SEECLICKFIX=["x"]),
        pytest.raises(ImproperlyConfigured, match="must be a dict"),
    ):
        _ = app_settings.FLOW


def test_a_single_key_string_becomes_a_list_and_unknown_attributes_raise():
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": KEY}):
        assert app_settings.TOKEN_KEYS == [KEY]
    with pytest.raises(AttributeError):
        _ = app_settings.NOT_A_SETTING


def test_service_account_and_areas_accept_good_values():
    value = {"TOKEN": "pat", "ORGANIZATION_ID": 7}
    areas = [
        {"NAME": "nh", "PLACE_URL": "new-haven"},
        {"NAME": "box", "BBOX": [41.2, -73.0, 41.4, -72.8]},
    ]
    with override_settings(SEECLICKFIX={"SERVICE_ACCOUNT": value, "AREAS": areas}):
        assert app_settings.SERVICE_ACCOUNT == value
        assert [a["NAME"] for a in app_settings.AREAS] == ["nh", "box"]
