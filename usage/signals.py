"""`usage_changed` is sent after a commit that changed usage numbers (ingest, reprice, Codex
telemetry). Live updates (SSE) listen to it; senders must send it from `transaction.on_commit`."""

from django.dispatch import Signal

usage_changed = Signal()
