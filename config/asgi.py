"""ASGI entry point: gunicorn serves it with uvicorn workers so SSE streams."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.handler import get_asgi_application  # noqa: E402

# Django's handler, with non-stream requests served in one thread hop (config/handler.py).
django_application = get_asgi_application()

from config.limits import RequestLimits  # noqa: E402  (needs the settings configured above)

# Body size and body time limits answer before Django reads a byte of the body.
application = RequestLimits(django_application)
