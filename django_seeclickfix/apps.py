from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SeeClickFixConfig(AppConfig):
    name = "django_seeclickfix"
    label = "seeclickfix"
    verbose_name = _("SeeClickFix")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for their side effects: system checks, allauth signal receivers.
        from . import checks, linking  # noqa: F401
