"""The pytest plugin: fixtures, per-test reset, the settings helper, cheap import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from django_seeclickfix.testing import emulator_settings, use_emulator


def test_a_test_may_change_everything(scf_emulator):
    scf_emulator.add_issue("newcomer", summary="left behind")
    scf_emulator.faults.add("/", "error")
    scf_emulator.set_rate_limit(1, 60)
    scf_emulator.configure(moderate_comments=True)
    scf_emulator.advance(3600)


def test_the_next_test_gets_a_fresh_emulator(scf_emulator):
    assert not any(i.summary == "left behind" for i in scf_emulator.state.issues.values())
    assert len(scf_emulator.faults) == 0
    assert not scf_emulator.limiter.enabled
    assert scf_emulator.behaviour.moderate_comments is False
    assert scf_emulator.clock.offset == 0
    assert scf_emulator.requests() == []


def test_settings_fixture_points_django_at_the_emulator(scf_emulator_settings):
    from django.conf import settings

    from django_seeclickfix.conf import app_settings

    assert app_settings.base_url == scf_emulator_settings.url
    assert app_settings.ENVIRONMENT == "emulator"
    assert settings.SEECLICKFIX["TOKEN_KEYS"]  # the project's other keys are kept
    app = settings.SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"][0]
    assert app["client_id"] == "scf-emulator-code"
    assert app["secret"] == "scf-emulator-code-secret"


def test_emulator_settings_for_other_apps(scf_emulator):
    values = emulator_settings(
        scf_emulator.url, client_id="scf-emulator-implicit", secret=None, FLOW="implicit"
    )
    assert values["SEECLICKFIX"]["FLOW"] == "implicit"
    assert values["SOCIALACCOUNT_PROVIDERS"]["seeclickfix"]["APPS"] == [
        {"client_id": "scf-emulator-implicit", "secret": "", "key": ""}
    ]

    class Target:
        pass

    target = Target()
    use_emulator(target, scf_emulator)
    assert target.SEECLICKFIX["BASE_URL"] == scf_emulator.url  # type: ignore[attr-defined]


def test_factory_makes_independent_emulators(scf_emulator, scf_emulator_factory):
    other = scf_emulator_factory(seed="empty", rate_limit="2/60")
    assert other.port != scf_emulator.port
    assert other.server.running
    assert not other.state.issues


def test_testing_package_exports_lazily():
    import django_seeclickfix.testing as testing

    assert testing.Emulator.__name__ == "Emulator"
    assert testing.RemoteEmulator.__name__ == "RemoteEmulator"
    with pytest.raises(AttributeError):
        testing.Nothing  # noqa: B018


@pytest.mark.integration
def test_the_plugin_imports_nothing_heavy():
    heavy = ("django_seeclickfix.testing.emulator", "django.db", "django.conf", "requests")
    code = (
        "import sys; import django_seeclickfix.testing.pytest_plugin; "
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
