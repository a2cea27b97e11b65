"""Pricing: which `ModelPrice` row applies to a record, and what the record costs.

Prices are USD per million tokens, which is exactly micro-USD per token. The six decimal places
of a stored price are kept by scaling it once to integer pico-USD per token; a record's cost is
then an exact integer sum, rounded half up to micro-USD once per record.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from usage.models import ModelPrice

UNKNOWN_FAMILY = "unknown"
# The model of a message ingested with `model: null`. No price ever applies to it, whatever
# prefixes the price table holds, so it always costs 0 and is listed among unpriced models.
UNKNOWN_MODEL = "unknown"
PICO_PER_MICRO = 1_000_000


def _pico(value: Decimal) -> int:
    """USD per million tokens (6 decimal places) → integer pico-USD per token."""
    return int((Decimal(value) * PICO_PER_MICRO).to_integral_value())


@dataclass(frozen=True)
class Rate:
    """Integer pico-USD per token for each token kind."""

    input: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int
    output: int


@dataclass(frozen=True)
class Price:
    prefix: str
    family: str
    effective_from: datetime
    base: Rate
    long_context_threshold: int | None = None
    long_context: Rate | None = None

    @classmethod
    def from_row(cls, row: ModelPrice) -> Price:
        """A Price from a ModelPrice (or any object with its attributes)."""
        base = Rate(
            input=_pico(row.input),
            cache_write_5m=_pico(row.cache_write_5m),
            cache_write_1h=_pico(row.cache_write_1h),
            cache_read=_pico(row.cache_read),
            output=_pico(row.output),
        )
        long_context = None
        if row.long_context_threshold:
            # A tier field left empty keeps the base price for that kind.
            long_context = Rate(
                input=_pico(row.lc_input) if row.lc_input is not None else base.input,
                cache_write_5m=(
                    _pico(row.lc_cache_write_5m)
                    if row.lc_cache_write_5m is not None
                    else base.cache_write_5m
                ),
                cache_write_1h=(
                    _pico(row.lc_cache_write_1h)
                    if row.lc_cache_write_1h is not None
                    else base.cache_write_1h
                ),
                cache_read=(
                    _pico(row.lc_cache_read) if row.lc_cache_read is not None else base.cache_read
                ),
                output=_pico(row.lc_output) if row.lc_output is not None else base.output,
            )
        return cls(
            prefix=row.model_prefix,
            family=row.family,
            effective_from=row.effective_from,
            base=base,
            long_context_threshold=row.long_context_threshold or None,
            long_context=long_context,
        )

    def rate_for(self, prompt_tokens: int) -> Rate:
        if (
            self.long_context is not None
            and self.long_context_threshold
            and prompt_tokens > self.long_context_threshold
        ):
            return self.long_context
        return self.base


def cost_micros(
    price: Price | None,
    *,
    input: int,
    cache_creation: int,
    cache_creation_1h: int,
    cache_read: int,
    output: int,
) -> int:
    """Cost of one request in integer micro-USD (0 when no price matches).

    `cache_creation` holds both TTLs; its `cache_creation_1h` part is billed at the 1-hour rate.
    The long-context tier looks at this one request's prompt (input + cache writes + cache reads)
    and, above the threshold, prices the whole request at the tier.
    """
    if price is None:
        return 0
    rate = price.rate_for(input + cache_creation + cache_read)
    pico = (
        input * rate.input
        + (cache_creation - cache_creation_1h) * rate.cache_write_5m
        + cache_creation_1h * rate.cache_write_1h
        + cache_read * rate.cache_read
        + output * rate.output
    )
    return (pico + PICO_PER_MICRO // 2) // PICO_PER_MICRO


def family_of(price: Price | None) -> str:
    """The model family a record is stored under: its price's, `unknown` when none matched."""
    return price.family if price is not None else UNKNOWN_FAMILY


def tokens_weighted(*, input: int, cache_creation: int, cache_read: int, output: int) -> int:
    """round(input + 1.25·cacheCreation + 0.1·cacheRead + 5·output), half up, in integers."""
    twentieths = input * 20 + cache_creation * 25 + cache_read * 2 + output * 100
    return (twentieths + 10) // 20


class PriceBook:
    """All price rows in memory: longest matching prefix, then the row in effect at `ts`.

    Built once per batch (one query), so pricing a thousand records costs no further queries and
    always sees the current table, whichever process changed it.
    """

    def __init__(self, prices: list[Price]) -> None:
        by_prefix: dict[str, list[Price]] = {}
        for price in prices:
            by_prefix.setdefault(price.prefix, []).append(price)
        for rows in by_prefix.values():
            rows.sort(key=lambda item: item.effective_from)
        self._by_prefix = by_prefix
        self._starts = {
            prefix: [row.effective_from for row in rows] for prefix, rows in by_prefix.items()
        }
        # Longest first, so the first prefix that matches and is in effect wins.
        self._prefixes = sorted(by_prefix, key=lambda prefix: (-len(prefix), prefix))
        self._candidates: dict[str, list[str]] = {}

    @classmethod
    def load(cls) -> PriceBook:
        return cls([Price.from_row(row) for row in ModelPrice.objects.all()])

    def candidates(self, model: str) -> list[str]:
        found = self._candidates.get(model)
        if found is None:
            found = (
                []
                if model == UNKNOWN_MODEL
                else [prefix for prefix in self._prefixes if model.startswith(prefix)]
            )
            self._candidates[model] = found
        return found

    def lookup(self, model: str, ts: datetime) -> Price | None:
        """The price for `model` at `ts`: the longest prefix that has a row in effect then."""
        for prefix in self.candidates(model):
            index = bisect.bisect_right(self._starts[prefix], ts) - 1
            if index >= 0:
                return self._by_prefix[prefix][index]
        return None

    def family_of_prefix(self, prefix: str) -> str:
        return self._by_prefix[prefix][-1].family
