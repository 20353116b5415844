"""pytest plugin of django-seeclickfix (entry point ``seeclickfix``), loaded in every pytest run
of a project that installs the package. Imports nothing heavy until a fixture is used.

Fixtures:

``scf_emulator``
    The SeeClickFix emulator, live on a free port for the whole session and reset before each
    test (demo data, default apps, no faults, empty log, clock back to now). The rate limit is
    **off** here so unrelated tests never meet a 429; tests of limiting switch it on with
    ``scf_emulator.set_rate_limit(20, 60)``.
``scf_emulator_settings``
    ``scf_emulator``, with Django settings pointing at it through pytest-django's ``settings``
    fixture: ``SEECLICKFIX["BASE_URL"]``, ``ENVIRONMENT="emulator"``,
    ``SITE_URL="http://testserver"`` (the test client's host) and the emulator's code-flow
    client in ``SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]``; the project's own callback
    and relay URIs are registered with the emulator's apps.
``scf_linked_user``
    A site user (``scf-user``) linked to the emulator's demo resident through the real connect
    flow (``django_seeclickfix.testing.link_user``); ``.seeclickfix_account`` is the link.
``scf_emulator_factory``
    Makes extra emulators with their own options (``scf_emulator_factory(rate_limit="5/10")``);
    each is stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .emulator import Emulator


@pytest.fixture(scope="session")
def scf_emulator_server() -> Iterator[Emulator]:
    """The session's emulator server, not reset between tests (use ``scf_emulator``)."""
    from .emulator import Emulator  # deferred: the plugin loads in every pytest run

    emulator = Emulator(port=0, seed="demo", rate_limit=None).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def scf_emulator(scf_emulator_server: Emulator) -> Emulator:
    """The emulator, freshly reset for this test (rate limit off)."""
    scf_emulator_server.reset()
    return scf_emulator_server


@pytest.fixture
def scf_emulator_settings(scf_emulator: Emulator, settings: Any) -> Emulator:
    """``scf_emulator`` with the Django settings pointing at it (needs pytest-django)."""
    from .configure import use_emulator  # deferred: it reads Django settings

    use_emulator(settings, scf_emulator)
    return scf_emulator


@pytest.fixture
def scf_linked_user(scf_emulator_settings: Emulator, client: Any, django_user_model: Any) -> Any:
    """A user linked to the emulator's ``resident`` through the connect flow (needs the
    database: mark the test ``django_db``)."""
    from .linking import link_user  # deferred: it imports the models

    user = django_user_model.objects.create_user("scf-user", "scf-user@example.com", "pw")
    user.seeclickfix_account = link_user(client, scf_emulator_settings, user, "resident")
    return user


@pytest.fixture
def scf_emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start extra emulators: ``scf_emulator_factory(**Emulator options)``."""
    from .emulator import Emulator  # deferred: the plugin loads in every pytest run

    started: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        options.setdefault("port", 0)
        emulator = Emulator(**options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()
