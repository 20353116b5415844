"""The emulator as a contract target: a demo user's token, the code-flow app, a browser that
signs in on the emulator's pages, and the emulator itself as the control."""

from __future__ import annotations

from typing import Any

import requests

from ..emulator import CODE_APP_ID, CODE_APP_SECRET, AuthorizationFailed
from .target import Target

CALLBACK = "http://testserver/accounts/seeclickfix/login/callback/"
USER_AGENT = "django-seeclickfix contract suite (emulator)"


def emulator_target(emulator: Any, who: str = "resident", *, name: str = "emulator") -> Target:
    """A :class:`Target` for a running ``Emulator`` (its built-in code-flow app, whose
    redirect URIs include ``CALLBACK``), signed in as demo user ``who``."""
    token = emulator.issue_token(who, client_id=CODE_APP_ID).access_token
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT

    def authorize(url: str, approve: bool) -> str | None:
        try:
            return str(emulator.complete_authorization(url, who, approve=approve))
        except AuthorizationFailed:
            return None  # the emulator stopped on its error page

    return Target(
        name=name,
        base_url=emulator.url,
        session=session,
        authorization=f"Bearer {token}",
        token=token,
        client_id=CODE_APP_ID,
        client_secret=CODE_APP_SECRET,
        redirect_uri=CALLBACK,
        authorize=authorize,
        control=emulator,
        writable=True,
    )
