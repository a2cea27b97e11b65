"""WSGI entry point: gunicorn's threaded worker behind Pushpin (`make run-production`, deploy/).

It streams nothing itself: with GRIP_URL set the stream views answer at once and Pushpin holds
the connection (usage/live/grip.py). Without GRIP_URL, serve config.asgi instead (`make run`).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
