"""Price writes: importing a price list (file or PRICING_URL), and repricing stored records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import audit_record
from core.errors import ApplicationError
from core.upstream import UpstreamError, get_json
from usage.models import ModelPrice, UsageRecord
from usage.price_import import parse_prices
from usage.pricing import PriceBook, cost_micros, family_of
from usage.rollups import RECORD_COUNTERS, Deltas, hour_of, rollups_apply, rollups_prune
from usage.signals import usage_changed

# --- Prices.

# A prefix seen for the first time prices its whole history; a changed price applies from now.
PRICE_HISTORY_START = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass
class PriceImportSummary:
    applied: int
    unchanged: int
    skipped: list[tuple[str, str]]
    ignored: int

    def line(self, source: str) -> str:
        text = (
            f"refresh_prices: applied {self.applied}, unchanged {self.unchanged}, "
            f"skipped {len(self.skipped)}, ignored {self.ignored} from {source}"
        )
        if self.skipped:
            shown = "; ".join(f"{model}: {reason}" for model, reason in self.skipped[:5])
            more = f"; +{len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            text += f" (skipped {shown}{more})"
        return text


def prices_import(*, payload: Any, source: str, actor: str = "") -> PriceImportSummary:
    """Apply a checked price list (LiteLLM or per-1k shape) in one transaction, audited.

    Rows equal to the price now in effect change nothing. A new prefix gets a row effective
    from PRICE_HISTORY_START, so `reprice` can rate its past records; a changed price gets a row
    effective now, so records already stored keep the price of their time.
    """
    parsed = parse_prices(payload, book=PriceBook.load())
    now = timezone.now()
    applied = unchanged = 0
    with transaction.atomic():
        latest: dict[str, ModelPrice] = {}
        for row in ModelPrice.objects.filter(effective_from__lte=now).order_by("effective_from"):
            latest[row.model_prefix] = row
        for candidate in parsed.rows:
            prices = candidate.prices()
            current = latest.get(candidate.model)
            if current is not None and all(
                _same_price(getattr(current, name), value) for name, value in prices.items()
            ):
                unchanged += 1
                continue
            exists = current is not None or (
                ModelPrice.objects.filter(model_prefix=candidate.model).exists()
            )
            ModelPrice.objects.create(
                model_prefix=candidate.model,
                family=candidate.family,
                provider=candidate.provider,
                effective_from=now if exists else PRICE_HISTORY_START,
                source="import",
                **prices,
            )
            applied += 1
        summary = PriceImportSummary(
            applied=applied, unchanged=unchanged, skipped=parsed.skipped, ignored=parsed.ignored
        )
        audit_record(
            action="pricing.refresh",
            actor=actor,
            meta={
                "kind": "import",
                "source": source,
                "applied": applied,
                "unchanged": unchanged,
                "skipped": len(parsed.skipped),
                "skipped_models": [model for model, _reason in parsed.skipped[:20]],
                "ignored": parsed.ignored,
            },
        )
    return summary


@dataclass(frozen=True)
class PriceOverride:
    price: ModelPrice | None
    repriced: int  # stored records whose cost or family changed because of the change
    delta_micros: int


def price_save(*, price: ModelPrice, actor: str = "", ip: str | None = None) -> PriceOverride:
    """Save a price set by hand (the admin, source `admin`) and re-rate the stored records it
    now prices: a row in effect from a past time changes what past records cost. Re-rated from
    its `effective_from` (and the old one, when an edit moved it) like `manage.py reprice`, in
    the same transaction as the save and its audit event, which carries the `repriced` count."""
    changed = price.pk is not None
    previous_from = None
    if changed:
        previous_from = (
            ModelPrice.objects.filter(pk=price.pk).values_list("effective_from", flat=True).first()
        )
    with transaction.atomic():
        price.source = "admin"
        price.save()
        since = min(when for when in (price.effective_from, previous_from) if when is not None)
        summary = _reprice_if_past(since)
        _audit_by_hand(
            price,
            kind="admin",
            actor=actor,
            ip=ip,
            changed=changed,
            repriced=summary.changed,
            delta_micros=summary.delta_micros,
        )
    return PriceOverride(price=price, repriced=summary.changed, delta_micros=summary.delta_micros)


def price_delete(
    *, prices: list[ModelPrice], actor: str = "", ip: str | None = None
) -> PriceOverride:
    """Delete price rows by hand (the admin) and re-rate the records they priced; audited in
    the same transaction, with the `repriced` count."""
    if not prices:
        return PriceOverride(price=None, repriced=0, delta_micros=0)
    with transaction.atomic():
        ModelPrice.objects.filter(pk__in=[price.pk for price in prices]).delete()
        summary = _reprice_if_past(min(price.effective_from for price in prices))
        for price in prices:
            _audit_by_hand(
                price,
                kind="admin-delete",
                actor=actor,
                ip=ip,
                repriced=summary.changed,
                delta_micros=summary.delta_micros,
            )
    return PriceOverride(price=None, repriced=summary.changed, delta_micros=summary.delta_micros)


def _audit_by_hand(
    price: ModelPrice, *, kind: str, actor: str, ip: str | None, **extra: Any
) -> None:
    meta = {
        "kind": kind,
        "model_prefix": price.model_prefix,
        "effective_from": price.effective_from.isoformat(),
        **extra,
    }
    audit_record(action="pricing.refresh", actor=actor, ip=ip, meta=meta)


def _same_price(stored: Any, imported: Any) -> bool:
    if stored is None or imported is None:
        return stored is None and imported is None
    return Decimal(stored) == Decimal(imported)


def prices_fetch(*, url: str) -> Any:
    """The JSON at `url` (PRICING_URL by default); ApplicationError when it cannot be had."""
    try:
        return get_json(url, label="the price list", want_object=False)
    except UpstreamError as error:
        raise ApplicationError(f"Could not fetch prices: {error.kind}", status_code=502) from None


def prices_refresh(*, url: str | None = None, actor: str = "") -> PriceImportSummary:
    """Fetch and import the upstream price list (the runner calls this when prices are due)."""
    url = url or settings.PRICING_URL
    return prices_import(payload=prices_fetch(url=url), source=url_label(url), actor=actor)


def url_label(url: str) -> str:
    """scheme://host:port/path of a URL: never credentials or a query string (may hold a key)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"[:200]


# --- Repricing.


@dataclass
class RepriceSummary:
    scanned: int = 0
    changed: int = 0
    delta_micros: int = 0

    def line(self) -> str:
        sign = "+" if self.delta_micros >= 0 else "-"
        usd = Decimal(abs(self.delta_micros)) / 10**6
        return (
            f"reprice: scanned {self.scanned}, changed {self.changed}, "
            f"cost change {sign}{usd:.6f} USD"
        )


REPRICE_FIELDS = (
    "id",
    "user",
    "machine",
    "model",
    "model_family",
    "ts",
    *RECORD_COUNTERS,
)


def records_reprice(
    *,
    since: datetime,
    until: datetime | None = None,
    chunk_size: int = 2000,
    actor: str = "",
    audit: bool = True,
) -> RepriceSummary:
    """Re-rate records with ts in [since, until) at the prices now in the table.

    One transaction per chunk: the chunk's records are locked, updated where family or cost
    changed, and the rollups get (new − old) in the same transaction, so they stay equal to the
    raw rows whatever runs beside it. Safe to rerun after an interruption.
    """
    book = PriceBook.load()
    summary = RepriceSummary()
    last_id = 0
    while True:
        with transaction.atomic():
            records = UsageRecord.objects.filter(ts__gte=since, id__gt=last_id)
            if until is not None:
                records = records.filter(ts__lt=until)
            rows = list(
                records.order_by("id").select_for_update().values(*REPRICE_FIELDS)[:chunk_size]
            )
            if not rows:
                break
            last_id = rows[-1]["id"]
            summary.scanned += len(rows)
            changed = _reprice_chunk(rows, book)
            summary.changed += len(changed)
            summary.delta_micros += sum(delta for _pk, _family, _cost, delta in changed)
    if not audit:  # the caller's own audit event carries the counts
        return summary
    with transaction.atomic():
        audit_record(
            action="pricing.refresh",
            actor=actor,
            meta={
                "kind": "reprice",
                "since": since.isoformat(),
                "until": until.isoformat() if until else None,
                "scanned": summary.scanned,
                "changed": summary.changed,
                "delta_micros": summary.delta_micros,
            },
        )
    return summary


def _reprice_chunk(rows: list[dict], book: PriceBook) -> list[tuple[int, str, int, int]]:
    deltas = Deltas()
    changed: list[tuple[int, str, int, int]] = []
    for row in rows:
        price = book.lookup(row["model"], row["ts"])
        family = family_of(price)
        cost = cost_micros(
            price,
            input=row["input"],
            cache_creation=row["cache_creation"],
            cache_creation_1h=row["cache_creation_1h"],
            cache_read=row["cache_read"],
            output=row["output"],
        )
        if family == row["model_family"] and cost == row["cost_micros"]:
            continue
        counters = [row[name] for name in RECORD_COUNTERS]
        hour = hour_of(row["ts"])
        deltas.add(
            (row["user"], row["machine"], row["model"], row["model_family"], hour), counters, -1
        )
        counters[-1] = cost
        deltas.add((row["user"], row["machine"], row["model"], family, hour), counters)
        changed.append((row["id"], family, cost, cost - row["cost_micros"]))
    if changed:
        UsageRecord.objects.bulk_update(
            [
                UsageRecord(pk=pk, model_family=family, cost_micros=cost)
                for pk, family, cost, _delta in changed
            ],
            ["model_family", "cost_micros"],
            batch_size=500,
        )
        rollups_apply(deltas=deltas)
        rollups_prune()
        count = len(changed)
        transaction.on_commit(
            lambda: usage_changed.send(sender=UsageRecord, count=count), robust=True
        )
    return changed


def _reprice_if_past(since: datetime) -> RepriceSummary:
    if since > timezone.now():
        return RepriceSummary()
    return records_reprice(since=since, audit=False)
