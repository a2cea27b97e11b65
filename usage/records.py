"""The record a caller hands to `usage.services.ingest.records_insert`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class NewRecord:
    message_id: str
    source: str
    user: str
    machine: str
    model: str
    ts: datetime
    input: int = 0
    cache_creation: int = 0  # both TTLs
    cache_creation_1h: int = 0  # the 1-hour part of cache_creation
    cache_read: int = 0
    output: int = 0  # includes reasoning for Codex
    reasoning: int = 0
    request_id: str | None = None
    host_id: int | None = None
    line: str | None = None


@dataclass
class InsertResult:
    inserted: list[str]  # message_ids actually inserted (in input order)
    duplicates: int
