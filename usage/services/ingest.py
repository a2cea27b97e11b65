"""Ingest writes: priced records inserted with their rollups, and whole ingest batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.services import audit_record
from usage.bulk import insert_rows
from usage.host_month import host_month_changed
from usage.ingest import MessageError, batch_validate, message_parse
from usage.models import Source, UsageRecord
from usage.pricing import PriceBook, cost_micros, family_of, tokens_weighted
from usage.records import InsertResult, NewRecord
from usage.rollups import RECORD_COUNTERS, Deltas, hour_of, rollups_apply
from usage.signals import usage_changed

# Column order of the records INSERT; `_insert_returning` builds rows in exactly this order.
RECORD_COLUMNS = (
    "message_id",
    "source",
    "user",
    "machine",
    "model",
    "model_family",
    *RECORD_COUNTERS,
    "ts",
    "ingested_at",
    "request_id",
    "host_id",
    "line",
)


@dataclass(slots=True)
class _Priced:
    record: NewRecord
    ts: datetime
    model_family: str
    tokens_weighted: int
    cost_micros: int

    def rollup_key(self) -> tuple:
        r = self.record
        return (r.user, r.machine, r.model, self.model_family, hour_of(self.ts))

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


def _price(record: NewRecord, book: PriceBook) -> _Priced:
    ts = record.ts
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    price = book.lookup(record.model, ts)
    return _Priced(
        record,
        ts,
        family_of(price),
        tokens_weighted(
            input=record.input,
            cache_creation=record.cache_creation,
            cache_read=record.cache_read,
            output=record.output,
        ),
        cost_micros(
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
    adapt_dt = connection.ops.adapt_datetimefield_value
    stamp = adapt_dt(ingested_at)
    rows = [
        (
            item.record.message_id,
            item.record.source,
            item.record.user,
            item.record.machine,
            item.record.model,
            item.model_family,
            item.record.input,
            item.record.cache_creation,
            item.record.cache_creation_1h,
            item.record.cache_read,
            item.record.output,
            item.record.reasoning,
            item.tokens_weighted,
            item.cost_micros,
            adapt_dt(item.ts),
            stamp,
            item.record.request_id,
            item.record.host_id,
            item.record.line,
        )
        for item in priced
    ]
    qn = connection.ops.quote_name
    returned = insert_rows(
        model=UsageRecord,
        columns=RECORD_COLUMNS,
        rows=rows,
        suffix=f"ON CONFLICT ({qn('message_id')}) DO NOTHING RETURNING {qn('message_id')}",
        returning=True,
    )
    return {row[0] for row in returned}


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
    # No savepoint: a failure anywhere here fails the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        new_ids = _insert_returning(priced, timezone.now())
        deltas = Deltas()
        for item in priced:
            if item.record.message_id in new_ids:
                deltas.add(item.rollup_key(), item.counters())
        if deltas:
            rollups_apply(deltas=deltas)
            host_month_changed(
                item.record.host_id
                for item in priced
                if item.record.host_id is not None
                and item.record.source == Source.CODEX
                and item.record.message_id in new_ids
            )
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
            records.append(
                message_parse(message, user=user, machine=machine, host_id=host_id, now=now)
            )
        except MessageError as error:
            rejected.append({"index": index, "error": str(error)})

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
