"""The OAuth callback's cost: what one "Connect SeeClickFix" costs when the user comes back.

A signed-in site user presses Connect (a POST to the provider's login view), SeeClickFix
(the emulator) issues a code for that authorisation request (state and PKCE challenge as
sent), and the user's browser returns to the callback. Measured over that one callback
request, in this process on PostgreSQL: the requests sent to SeeClickFix (goal: 2, the token
exchange and the profile) and the database queries (allauth's and the app's together).

    .venv/bin/python benchmarks/callback_figure.py
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from common import api_log, last_seq, ref, running_stack

CALLBACK_PATH = "/accounts/seeclickfix/login/callback/"


@dataclass
class CallbackCost:
    outbound: list[str]  # "METHOD /path" of each request SeeClickFix saw, in order
    queries: int

    @property
    def requests(self) -> int:
        return len(self.outbound)


def callback_cost(emulator: Any) -> CallbackCost:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from django_seeclickfix.models import SeeClickFixAccount

    site = settings.SEECLICKFIX["SITE_URL"]
    emulator.add_redirect_uri(f"{site}{CALLBACK_PATH}")
    user = get_user_model().objects.create_user("callback-bench")
    (scf_user,) = emulator.generate_users(1, prefix="callback")
    browser = Client()
    browser.force_login(user)
    started = browser.post(reverse("seeclickfix_login"), {"process": "connect"})
    assert started.status_code == 302, started.status_code
    sent = {k: v[0] for k, v in parse_qs(urlsplit(started["Location"]).query).items()}
    code = emulator.issue_code(
        ref(scf_user),
        client_id=sent["client_id"],
        redirect_uri=sent["redirect_uri"],
        code_challenge=sent.get("code_challenge"),
        code_challenge_method=sent.get("code_challenge_method"),
    )
    since = last_seq(emulator)
    with CaptureQueriesContext(connection) as captured:
        back = browser.get(reverse("seeclickfix_callback"), {"code": code, "state": sent["state"]})
    assert back.status_code == 302, back.status_code
    account = SeeClickFixAccount.objects.get(user=user)
    assert account.user_scf_id == ref(scf_user)
    outbound = [f"{entry['method']} {entry['path']}" for entry in api_log(emulator, since)]
    user.delete()  # its account too: later passes must not find it
    return CallbackCost(outbound=outbound, queries=len(captured.captured_queries))


def main() -> None:
    with running_stack() as stack:
        cost = callback_cost(stack.emulator)
        calls = ", ".join(cost.outbound)
        print(f"callback: {cost.requests} requests ({calls}), {cost.queries} queries")


if __name__ == "__main__":
    main()
