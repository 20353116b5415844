"""The Celery app: ``celery -A elmcity worker`` and ``celery -A elmcity beat``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "elmcity.settings")

app = Celery("elmcity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
