"""Signals sent by django-seeclickfix. The sender is the model class of the row concerned
(:class:`SeeClickFixAccount` unless said otherwise).

No signal carries a token. Receivers run after the change is committed (``transaction.on_commit``)
so they never see a state that is later rolled back.

``account_linked``
    A SeeClickFix account was connected, or connected again (relink). Arguments: ``account``
    (the :class:`~django_seeclickfix.models.SeeClickFixAccount`), ``user`` (the site user),
    ``created`` (``True`` for a new link, ``False`` when an existing one got fresh tokens) and
    ``request`` (the ``HttpRequest`` of the OAuth callback, or ``None``).

``account_unlinked``
    The user disconnected SeeClickFix (or the allauth social account was removed). Tokens are
    already deleted; revocation at SeeClickFix runs in the background. Arguments: ``account``
    (status ``revoked``), ``user``, ``request`` (or ``None``).

``reauth_required``
    The link stopped working and only its user can repair it by connecting again: a refresh
    answered ``invalid_grant``, the token expired without a refresh token, or SeeClickFix kept
    refusing the token. Sent once per breakage (the status changes from ``active`` to
    ``reauth_required`` exactly once). Arguments: ``account``, ``reason`` (a short text without
    secrets).

``token_refreshed``
    A new access token was obtained with the refresh token and committed. Arguments:
    ``account`` (already holding the new token), ``rotated`` (``True`` when SeeClickFix also
    issued a new refresh token).

``account_synced``
    A sync of the account's profile and reported issues finished. Arguments: ``account`` and
    ``summary`` (a dict of counts documented by the sync module).

``action_finished``
    An owed post (:class:`~django_seeclickfix.models.SeeClickFixAction`) reached a final status:
    ``succeeded``, ``moderated``, ``failed`` or ``cancelled``. Sender: ``SeeClickFixAction``.
    Arguments: ``action`` and ``status``.

``revocation_finished``
    A revocation (:class:`~django_seeclickfix.models.SeeClickFixRevocation`) reached a final
    status: ``revoked``, ``skipped`` (nothing left to revoke: a live link holds the tokens again)
    or ``failed`` (SeeClickFix refused, or the tokens belong to another host: SeeClickFix may
    still honour them; ``revocation.error`` says what the site owner can do). Sender:
    ``SeeClickFixRevocation``. Arguments: ``revocation`` and ``status``.
"""

from __future__ import annotations

from django.dispatch import Signal

account_linked = Signal()
account_unlinked = Signal()
reauth_required = Signal()
token_refreshed = Signal()
account_synced = Signal()
action_finished = Signal()
revocation_finished = Signal()

__all__ = [
    "account_linked",
    "account_synced",
    "account_unlinked",
    "action_finished",
    "reauth_required",
    "revocation_finished",
    "token_refreshed",
]
