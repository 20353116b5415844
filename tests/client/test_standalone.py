"""The client outside Django: no settings, no models, no database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from django_seeclickfix.client import (
    MemoryEtagStore,
    NoEtagStore,
    Page,
    Unlimited,
)

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
import responses
from django.conf import settings
from django_seeclickfix.client import BearerAuth, SeeClickFixClient

with responses.RequestsMock() as mock:
    mock.get("https://scf.example/api/v2/profile", json={"id": 5, "name": "Solo"})
    client = SeeClickFixClient("https://scf.example", BearerAuth("t"))
    profile = client.get_profile()
    timeout = mock.calls[0].request.req_kwargs["timeout"]
print(json.dumps({
    "configured": settings.configured,
    "name": profile.name,
    "budget": repr(client.session.budget),
    "etags": type(client.etag_store).__name__,
    "timeout": timeout,
    "models": sorted(m for m in sys.modules if m.startswith("django_seeclickfix") and "model" in m),
}))
"""


@pytest.mark.integration
def test_works_without_django_settings_and_imports_no_models():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["configured"] is False
    assert result["name"] == "Solo"
    assert "20 per 60s" in result["budget"]  # the documented defaults
    assert result["etags"] == "MemoryEtagStore"
    assert result["timeout"] == [5.0, 30.0]
    assert result["models"] == []


def test_lazy_exports_and_unknown_names():
    import django_seeclickfix.client as client

    assert callable(client.service_client)
    with pytest.raises(AttributeError):
        client.no_such_thing  # noqa: B018


def test_memory_etag_store_is_bounded_and_no_store_never_remembers():
    store = MemoryEtagStore(max_entries=2)
    for key in "abc":
        store.set(key, f'"{key}"')
    assert store.get("a") is None
    assert store.get("c") == '"c"'
    none = NoEtagStore()
    none.set("k", "v")
    assert none.get("k") is None


def test_unlimited_budget_and_page_helpers():
    budget = Unlimited()
    with budget.reserve():
        pass
    budget.pause(5)
    assert budget.paused_for() == 0
    assert budget.stats.snapshot()["acquired"] == 1
    assert repr(budget) == "Unlimited()"
    page = Page(items=(1, 2), number=1, per_page=2, total_pages=1, total_entries=2, has_next=False)
    assert list(page) == [1, 2]
    assert len(page) == 2
    assert page.high_water is None
