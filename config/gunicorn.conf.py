"""gunicorn settings for `make run` (and tests/test_serving.py, which starts the same way).

`--bind` and `--workers` come from the command line. Everything here follows the Django
settings, so the server and the app agree on whom to trust.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # gunicorn runs this file by path, before the app is imported

from config.bootstrap import settings_or_exit  # noqa: E402

settings = settings_or_exit()  # a configuration mistake is one line, not a traceback
from core.logfilters import RedactSecretsFilter  # noqa: E402

wsgi_app = "config.asgi:application"
# django-eventstream streams only under ASGI, so the worker is uvicorn's (with a header timeout).
worker_class = "config.server.TokenfleetUvicornWorker"
accesslog = "-"
graceful_timeout = 5
# gunicorn >= 25 opens a control socket at one fixed path per user, which a second server on the
# same machine would fight over; tokenfleet is managed by signals, so it is off.
control_socket_disable = True


# Forwarded headers have one owner, core.client_ip (TRUSTED_PROXIES). gunicorn would otherwise
# set the scheme from X-Forwarded-Proto for loopback peers and for every Unix-socket peer, and
# uvicorn would rewrite the client address (config/server.py turns uvicorn's handling off).
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
forwarder_headers = ""


def on_starting(server) -> None:
    if "uvicorn" not in server.cfg.worker_class_str.lower() and not settings.GRIP_URL:
        # A WSGI worker cannot stream: each /api/usage/stream request would hold a thread for good.
        server.log.error(
            "tokenfleet: the %s worker needs Pushpin in front (GRIP_URL) to serve the SSE streams; "
            "set GRIP_URL (make run-production, deploy/) or use the uvicorn worker (make run).",
            server.cfg.worker_class_str,
        )
        sys.exit(1)
    if server.cfg.workers > 1 and not settings.REDIS_URL:
        # Without Redis, rate-limit counters and live events stay inside one worker process.
        server.log.error(
            "tokenfleet: WORKERS=%s needs REDIS_URL (counters and live updates are per process "
            "without it); use WORKERS=1 or set REDIS_URL.",
            server.cfg.workers,
        )
        sys.exit(1)


def post_worker_init(worker) -> None:
    # Access lines carry the query string, where embeds put their token.
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactSecretsFilter())
