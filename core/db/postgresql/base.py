"""PostgreSQL as Django runs it, with the per-request health check only where it can pay.

With persistent connections (gunicorn's threads keep theirs, DB_CONN_MAX_AGE) and
CONN_HEALTH_CHECKS, Django pings a connection (`SELECT 1`) before its first query in every
request: a round trip on every request, about 70 us of a worker's CPU (11% of `GET /health` in
process, bench/floor.py) and the database's share besides. The ping exists for a connection the
server dropped while it sat idle (a restart, an idle timeout). A connection that finished a request
without a database error less than HEALTH_CHECK_AFTER_IDLE seconds ago is not pinged again: under
load that is every request; a connection idle for longer is pinged as before. After an error
Django's own check at the request's end still runs (and closes a broken connection), and that
request does not count as proof.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.backends.postgresql import base

# A connection idle at least this long (seconds) is pinged before the next request's first query.
HEALTH_CHECK_AFTER_IDLE = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # When the connection last finished a request that used it without a database error.
        self.proven_at: float | None = None

    def close_if_health_check_failed(self) -> None:
        done: bool = self.health_check_done  # type: ignore[has-type]
        if (
            self.connection is not None
            and not done
            and self.proven_at is not None
            and time.monotonic() - self.proven_at < HEALTH_CHECK_AFTER_IDLE
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self) -> None:
        # Called as a request starts and as it finishes (Django's close_old_connections). Between
        # the two, `health_check_done` turns true once the request takes a cursor (or when the
        # connection is new); `errors_occurred` is set by any database error but a data or
        # integrity one. So here, at a request's end: it used the connection, and it worked.
        if self.connection is not None and self.health_check_done and not self.errors_occurred:
            self.proven_at = time.monotonic()
        super().close_if_unusable_or_obsolete()

    def close(self) -> None:
        self.proven_at = None
        super().close()
