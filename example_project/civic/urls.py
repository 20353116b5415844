from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/sync/", views.sync_now, name="sync_now"),
    path("issues/<int:scf_id>/", views.issue_detail, name="issue"),
    path("report/", views.report, name="report"),
    path("report/details/", views.report_details, name="report_details"),
    # the library's pages: link status and disconnect
    path("seeclickfix/", include("django_seeclickfix.urls")),
]
