"""gunicorn settings for `make run` (and tests/test_serving.py, which starts the same way).

`--bind` and `--workers` come from the command line. Everything here follows the Django
settings, so the server and the app agree on whom to trust.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # gunicorn runs this file by path, before the app is imported

from config import settings  # noqa: E402
from core.logfilters import RedactSecretsFilter  # noqa: E402

wsgi_app = "config.asgi:application"
# django-eventstream streams only under ASGI, so the worker is uvicorn's (with a header timeout).
worker_class = "config.server.TokenfleetUvicornWorker"
accesslog = "-"
graceful_timeout = 5
# gunicorn >= 25 opens a control socket at one fixed path per user, which a second server on the
# same machine would fight over; tokenfleet is managed by signals, so it is off.
control_socket_disable = True


def _networks(entries: list[str]) -> list[str]:
    networks = []
    for entry in entries:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError:
            continue  # reported by the accounts.E001 system check; never trusted
    return networks


# uvicorn rewrites the client address and scheme from X-Forwarded-For/-Proto, but only for these
# peers: exactly the proxies core.client_ip trusts (gunicorn's own default is loopback).
forwarded_allow_ips = ",".join(_networks(settings.TRUSTED_PROXIES))


def on_starting(server) -> None:
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
