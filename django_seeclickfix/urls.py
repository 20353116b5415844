"""``path("seeclickfix/", include("django_seeclickfix.urls"))``: status page and disconnect."""

from django.urls import path

from . import views

app_name = "seeclickfix"

urlpatterns = [
    path("", views.status, name="status"),
    path("disconnect/", views.disconnect, name="disconnect"),
]
