"""The pytest plugin: fixtures, per-test reset, the settings helper, cheap import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from django_seeclickfix.testing import emulator_settings, use_emulator

# Run in a pytest of its own so the order is the file's, whatever this suite's selection or order.
# The middle test proves the checks see a dirty emulator (the session server keeps it dirty).
RESET_TESTS = """
from urllib.request import urlopen


def test_a_test_may_change_everything(scf_emulator):
    urlopen(f"{scf_emulator.url}/api/v2/issues").close()
    scf_emulator.add_issue("newcomer", summary="left behind")
    scf_emulator.faults.add("/", "error")
    scf_emulator.set_rate_limit(1, 60)
    scf_emulator.configure(moderate_comments=True)
    scf_emulator.advance(3600)


def state(emulator):
    return (
        any(i.summary == "left behind" for i in emulator.state.issues.values()),
        len(emulator.faults) > 0,
        emulator.limiter.enabled,
        emulator.behaviour.moderate_comments,
        emulator.clock.offset != 0,
        emulator.requests() != [],
    )


def test_the_session_server_alone_keeps_the_changes(scf_emulator_server):
    assert state(scf_emulator_server) == (True,) * 6


def test_the_next_test_gets_a_fresh_emulator(scf_emulator):
    assert state(scf_emulator) == (False,) * 6
"""


def test_each_test_gets_a_fresh_emulator(tmp_path):
    (tmp_path / "test_reset.py").write_text(RESET_TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


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
