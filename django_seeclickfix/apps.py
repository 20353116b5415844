from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SeeClickFixConfig(AppConfig):
    name = "django_seeclickfix"
    label = "seeclickfix"
    verbose_name = _("SeeClickFix")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Deferred to ready() (models cannot load earlier): they register the system checks and
        # the signal receivers of linking, unlinking and allauth's notices.
        from . import allauth_messages, checks, linking, unlinking  # noqa: F401
