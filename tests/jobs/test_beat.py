"""The beat schedule helper."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_seeclickfix import tasks
from django_seeclickfix.beat import beat_schedule


def test_schedule_from_the_configured_settings():
    with override_settings(SEECLICKFIX={"SYNC_PASS_INTERVAL": 120, "TOKEN_REFRESH_MARGIN": 600}):
        schedule = beat_schedule()
    assert schedule == {
        "seeclickfix-sync-all-accounts": {
            "task": tasks.sync_all_accounts.name,
            "schedule": 120.0,
            "options": {"expires": 120.0},
        },
        "seeclickfix-refresh-expiring-tokens": {
            "task": tasks.refresh_expiring_tokens.name,
            "schedule": 300.0,
            "options": {"expires": 300.0},
        },
        "seeclickfix-sweep-outbox": {
            "task": tasks.sweep_outbox.name,
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
    }


def test_schedule_from_a_settings_dict_and_its_validation():
    schedule = beat_schedule({"SYNC_PASS_INTERVAL": 60}, prefix="civic")
    assert schedule["civic-sync-all-accounts"]["schedule"] == 60.0
    assert schedule["civic-refresh-expiring-tokens"]["schedule"] == 150.0  # default margin / 2
    with pytest.raises(ImproperlyConfigured, match="SYNC_PASS_INTERVAL"):
        beat_schedule({"SYNC_PASS_INTERVAL": 0})


def test_usable_inside_settings_py_before_django_is_configured():
    code = (
        "from django_seeclickfix.beat import beat_schedule; "
        "s = beat_schedule(); print(s['seeclickfix-sync-all-accounts']['schedule'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "300.0"
