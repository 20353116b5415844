"""WSGI entry point (``gunicorn elmcity.wsgi``; the demo uses ``manage.py runserver``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "elmcity.settings")

application = get_wsgi_application()
