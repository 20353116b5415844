"""The allauth provider's id and its ``SocialAccount.uid`` rule.

A leaf: linking, tokens and the views name the provider without importing allauth's provider
machinery (which would tie every service module to the OAuth views).
"""

from __future__ import annotations

PROVIDER_ID = "seeclickfix"


def social_uid(user_scf_id: int, environment: str) -> str:
    """allauth's ``SocialAccount.uid`` for a SeeClickFix user.

    The environment is part of it outside production: user 42 on the test host is not user 42 on
    production, and must never log in as them.
    """
    return str(user_scf_id) if environment == "production" else f"{user_scf_id}@{environment}"


__all__ = ["PROVIDER_ID", "social_uid"]
