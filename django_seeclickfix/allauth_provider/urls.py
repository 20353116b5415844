"""Included by allauth under ``<allauth prefix>/seeclickfix/``: login, callback and relay."""

from django.urls import include, path

from .provider import SeeClickFixProvider
from .views import oauth2_callback, oauth2_login, relay

urlpatterns = [
    path(
        f"{SeeClickFixProvider.get_slug()}/",
        include(
            [
                path("login/", oauth2_login, name=f"{SeeClickFixProvider.id}_login"),
                path("login/callback/", oauth2_callback, name=f"{SeeClickFixProvider.id}_callback"),
                path("login/relay/", relay, name=f"{SeeClickFixProvider.id}_relay"),
            ]
        ),
    )
]
