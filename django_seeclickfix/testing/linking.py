"""Link a site user to an emulator user through the real connect flow, in one call.

``link_user(client, emulator, user, who="resident")`` signs ``user`` in on Django's test
``client``, starts the connect flow with a POST (as the connect button does), approves it on the
emulator's pages as ``who`` and follows the browser back (the callback, or the relay page for
the implicit flow). Returns the ``SeeClickFixAccount``. Needs the settings from
``use_emulator`` (the ``scf_emulator_settings`` fixture).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from ..models import SeeClickFixAccount
    from .emulator import Emulator


class LinkFailed(AssertionError):
    """The flow did not end in a link; the message says where it stopped."""


def link_user(
    client: Any,
    emulator: Emulator,
    user: Any,
    who: Any = "resident",
) -> SeeClickFixAccount:
    from django.urls import reverse  # deferred: the plugin imports this in every pytest run

    from ..models import SeeClickFixAccount  # deferred: models need Django's app registry

    client.force_login(user)
    started = client.post(reverse("seeclickfix_login"), {"process": "connect"})
    if started.status_code != 302:
        raise LinkFailed(f"starting the connect flow answered {started.status_code}")
    back = urlsplit(emulator.complete_authorization(started["Location"], who))
    if back.path == reverse("seeclickfix_relay"):
        done = client.post(back.path, dict(parse_qsl(back.fragment)))  # what the relay posts
    else:
        done = client.get(back.path, dict(parse_qsl(back.query)))
    account = SeeClickFixAccount.objects.for_user(user)
    if account is None or account.status != SeeClickFixAccount.Status.ACTIVE:
        raise LinkFailed(
            f"the flow ended with {done.status_code} at {back.path} but linked nothing "
            "(are the settings from scf_emulator_settings / use_emulator in place?)"
        )
    return account
