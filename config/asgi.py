"""ASGI entry point: gunicorn serves it with uvicorn workers so SSE streams."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from config.limits import RequestLimits  # noqa: E402  (needs the settings configured above)

# Body size and body time limits answer before Django reads a byte of the body.
application = RequestLimits(django_application)
