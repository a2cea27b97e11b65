"""Insert usage from a process of its own, the way a management command would.

Run with the servers' environment (DATABASE_URL, REDIS_URL, CACHE_KEY_PREFIX, ...):
`python tests/live/insert_usage.py --machine m1 --batches 3 --per-batch 2`. Each batch is its own
commit, so each one sends `usage_changed` and, through it, a live notification.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machine", required=True)
    parser.add_argument("--user", default="alice")
    parser.add_argument("--batches", type=int, default=1)
    parser.add_argument("--per-batch", type=int, default=1)
    args = parser.parse_args()

    import django

    django.setup()
    from usage.records import NewRecord
    from usage.services.ingest import records_insert

    for _ in range(args.batches):
        records_insert(
            records=[
                NewRecord(
                    message_id=f"msg_live_{uuid.uuid4().hex}",
                    source="claude",
                    user=args.user,
                    machine=args.machine,
                    model="claude-sonnet-4-5",
                    ts=datetime.now(UTC),
                    input=100,
                    cache_creation=10,
                    cache_read=1000,
                    output=50,
                )
                for _ in range(args.per_batch)
            ]
        )


if __name__ == "__main__":
    main()
