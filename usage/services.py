"""Writes for usage: inserting priced records with their rollups, ingest batches, repricing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.services import audit_record
from usage.ingest import MessageError, batch_validate, message_parse
from usage.models import UsageRecord
from usage.pricing import PriceBook, cost_micros, tokens_weighted
from usage.rollups import Contribution, Deltas, rollups_apply
from usage.signals import usage_changed


@dataclass
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


# Column order of the raw INSERT; `_priced_row` builds tuples in exactly this order.
RECORD_COLUMNS = (
    "message_id",
    "source",
    "user",
    "machine",
    "model",
    "model_family",
    "input",
    "cache_creation",
    "cache_creation_1h",
    "cache_read",
    "output",
    "reasoning",
    "tokens_weighted",
    "cost_micros",
    "ts",
    "ingested_at",
    "request_id",
    "host_id",
    "line",
)


@dataclass
class _Priced:
    record: NewRecord
    ts: datetime
    model_family: str
    tokens_weighted: int
    cost_micros: int

    def counters(self) -> tuple[int, ...]:
        r = self.record
        return (
            r.input,
            r.cache_creation,
            r.cache_creation_1h,
            r.cache_read,
            r.output,
            r.reasoning,
            self.tokens_weighted,
            self.cost_micros,
        )

    def contribution(self) -> Contribution:
        r = self.record
        return Contribution(r.user, r.machine, r.model, self.model_family, self.ts, self.counters())


def _price(record: NewRecord, book: PriceBook) -> _Priced:
    ts = record.ts if timezone.is_aware(record.ts) else record.ts.replace(tzinfo=UTC)
    price = book.lookup(record.model, ts)
    return _Priced(
        record=record,
        ts=ts,
        model_family=price.family if price is not None else "unknown",
        tokens_weighted=tokens_weighted(
            input=record.input,
            cache_creation=record.cache_creation,
            cache_read=record.cache_read,
            output=record.output,
        ),
        cost_micros=cost_micros(
            price,
            input=record.input,
            cache_creation=record.cache_creation,
            cache_creation_1h=record.cache_creation_1h,
            cache_read=record.cache_read,
            output=record.output,
        ),
    )


def _insert_returning(priced: list[_Priced], ingested_at: datetime) -> set[str]:
    """`INSERT … ON CONFLICT (message_id) DO NOTHING RETURNING message_id`: the new ids only."""
    qn = connection.ops.quote_name
    table = qn(UsageRecord._meta.db_table)
    # Only quoted identifiers from model metadata are interpolated; values are parameters.
    head = f"INSERT INTO {table} ({', '.join(qn(name) for name in RECORD_COLUMNS)}) VALUES "  # noqa: S608
    tail = f" ON CONFLICT ({qn('message_id')}) DO NOTHING RETURNING {qn('message_id')}"
    row_sql = "(" + ", ".join(["%s"] * len(RECORD_COLUMNS)) + ")"
    per_statement = max(1, (connection.features.max_query_params or 60000) // len(RECORD_COLUMNS))
    adapt_dt = connection.ops.adapt_datetimefield_value
    stamp = adapt_dt(ingested_at)
    inserted: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(priced), per_statement):
            chunk = priced[start : start + per_statement]
            params: list = []
            for item in chunk:
                r = item.record
                params.extend(
                    (
                        r.message_id,
                        r.source,
                        r.user,
                        r.machine,
                        r.model,
                        item.model_family,
                        r.input,
                        r.cache_creation,
                        r.cache_creation_1h,
                        r.cache_read,
                        r.output,
                        r.reasoning,
                        item.tokens_weighted,
                        item.cost_micros,
                        adapt_dt(item.ts),
                        stamp,
                        r.request_id,
                        r.host_id,
                        r.line,
                    )
                )
            cursor.execute(head + ", ".join([row_sql] * len(chunk)) + tail, params)
            inserted.update(row[0] for row in cursor.fetchall())
    return inserted


def records_insert(*, records: list[NewRecord]) -> InsertResult:
    """Price and insert records; the first writer of a `message_id` wins, replays change nothing.

    Rollups are updated from the rows this call actually inserted, in the same transaction, and
    `usage_changed` is sent after commit when anything was inserted. Callers validate the fields.
    """
    unique: dict[str, NewRecord] = {}
    for record in records:
        unique.setdefault(record.message_id, record)
    if not unique:
        return InsertResult(inserted=[], duplicates=len(records))

    book = PriceBook.load()
    # Sorted by message_id so concurrent batches lock their unique-index entries in one order.
    priced = sorted(
        (_price(record, book) for record in unique.values()),
        key=lambda item: item.record.message_id,
    )
    with transaction.atomic():
        new_ids = _insert_returning(priced, timezone.now())
        deltas = Deltas()
        deltas.extend(item.contribution() for item in priced if item.record.message_id in new_ids)
        if deltas:
            rollups_apply(deltas=deltas)
            count = len(new_ids)
            transaction.on_commit(
                lambda: usage_changed.send(sender=UsageRecord, count=count), robust=True
            )
    inserted = [message_id for message_id in unique if message_id in new_ids]
    return InsertResult(inserted=inserted, duplicates=len(records) - len(inserted))


def messages_ingest(
    *,
    body: Any,
    user: str,
    forced_machine: str | None = None,
    host_id: int | None = None,
    actor: str = "",
    ip: str | None = None,
) -> dict:
    """POST /api/ingest/messages: validate, store the valid messages, audit the batch.

    The user always comes from the credential; a host key also forces the machine.
    """
    machine, messages = batch_validate(body, forced_machine=forced_machine)
    now = timezone.now()
    records: list[NewRecord] = []
    rejected: list[dict] = []
    for index, message in enumerate(messages):
        try:
            fields = message_parse(message, user=user, machine=machine, host_id=host_id, now=now)
        except MessageError as error:
            rejected.append({"index": index, "error": str(error)})
            continue
        records.append(NewRecord(**fields))

    with transaction.atomic():
        result = records_insert(records=records)
        counts = {
            "machine": machine,
            "received": len(messages),
            "applied": len(result.inserted),
            "duplicates": result.duplicates,
            "rejected": len(rejected),
        }
        audit_record(action="ingest.batch", actor=actor, ip=ip, meta=counts)
        if rejected:
            # Index and reason only: never the payload.
            audit_record(
                action="ingest.rejected",
                actor=actor,
                ip=ip,
                meta={"machine": machine, "count": len(rejected), "first": rejected[:20]},
            )
    return {
        "ok": True,
        "received": counts["received"],
        "applied": counts["applied"],
        "duplicates": counts["duplicates"],
        "rejected": rejected,
    }
