"""allauth imports ``<app>.provider`` of each installed app and registers ``provider_classes``."""

from .allauth_provider.provider import provider_classes

__all__ = ["provider_classes"]
