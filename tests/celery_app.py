"""The Celery app of the test suite, and of the real workers ``tests/workers.py`` starts.

In the pytest process it runs on ``tests.settings`` (the ``memory://`` broker: nothing is
consumed, publishing is observable through Celery's signals). A worker subprocess gets the same
settings plus the JSON object in ``SCF_WORKER_SETTINGS`` (broker, caches, ``SEECLICKFIX``…),
applied before Django starts, and the test database through ``SCF_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import json
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def _apply_worker_settings() -> None:
    raw = os.environ.get("SCF_WORKER_SETTINGS")
    if not raw:
        return
    from django.conf import settings

    for name, value in json.loads(raw).items():
        setattr(settings, name, value)


_apply_worker_settings()

app = Celery("scf_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["django_seeclickfix"])
