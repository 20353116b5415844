"""Elm City Fixes: a small civic site built on django-seeclickfix."""

from .celery import app as celery_app

__all__ = ["celery_app"]
