"""Reading price lists from outside: LiteLLM's `model_prices_and_context_window.json` and the
simple per-1k shape. Every row is checked before anything is applied; a bad row is skipped and
reported, never applied (the LiteLLM file is known to carry bad rows).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from usage.pricing import PriceBook

MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1_000)
QUANTUM = Decimal("0.000001")
MAX_PRICE = Decimal(1_000_000)  # USD per million tokens; anything above is a broken row
PROVIDERS = ("anthropic", "openai")
CHAT_MODES = (None, "chat", "responses")
TIER_RE = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")

# Anthropic's published cache-write multipliers, for rows that omit the write prices.
ANTHROPIC_5M_FACTOR = Decimal("1.25")
ANTHROPIC_1H_FACTOR = Decimal(2)


@dataclass
class PriceCandidate:
    """One imported row in USD per million tokens."""

    model: str
    family: str
    provider: str
    input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    output: Decimal
    long_context_threshold: int | None = None
    lc_input: Decimal | None = None
    lc_cache_write_5m: Decimal | None = None
    lc_cache_write_1h: Decimal | None = None
    lc_cache_read: Decimal | None = None
    lc_output: Decimal | None = None

    PRICE_FIELDS = (
        "input",
        "cache_write_5m",
        "cache_write_1h",
        "cache_read",
        "output",
        "long_context_threshold",
        "lc_input",
        "lc_cache_write_5m",
        "lc_cache_write_1h",
        "lc_cache_read",
        "lc_output",
    )

    def prices(self) -> dict:
        return {name: getattr(self, name) for name in self.PRICE_FIELDS}


@dataclass
class ParsedPrices:
    rows: list[PriceCandidate] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (model, reason)
    ignored: int = 0  # other providers, aliases, non-chat modes


class RowError(ValueError):
    pass


def _number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RowError(f"{name} is not a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise RowError(f"{name} is not a number") from None
    if not number.is_finite() or (isinstance(value, float) and not math.isfinite(value)):
        raise RowError(f"{name} is not a number")
    if number < 0:
        raise RowError(f"{name} is negative")
    return number


def _per_million(value: Any, name: str, scale: Decimal) -> Decimal:
    price = (_number(value, name) * scale).quantize(QUANTUM, rounding=ROUND_HALF_UP)
    if price > MAX_PRICE:
        raise RowError(f"{name} is out of range")
    return price


def guess_family(model: str, book: PriceBook | None) -> str:
    """The family of the longest known prefix, else one read from the model id."""
    if book is not None:
        for prefix in book.candidates(model):
            return book.family_of_prefix(prefix)
    name = model.lower()
    for family in ("opus", "sonnet", "haiku"):
        if family in name:
            return family
    if name.startswith("gpt-5"):
        for suffix in ("nano", "mini", "pro"):
            if suffix in name:
                return f"gpt-5-{suffix}"
        return "gpt-5"
    return model[:50]


def check(row: PriceCandidate) -> None:
    """The sanity rules of PRICES.md, for the base prices and the long-context tier."""
    tiers = [("", row.input, row.cache_write_5m, row.cache_write_1h, row.cache_read, row.output)]
    if row.long_context_threshold is not None:
        if row.long_context_threshold <= 0:
            raise RowError("long-context threshold must be positive")
        tiers.append(
            (
                "long-context ",
                row.lc_input if row.lc_input is not None else row.input,
                row.lc_cache_write_5m if row.lc_cache_write_5m is not None else row.cache_write_5m,
                row.lc_cache_write_1h if row.lc_cache_write_1h is not None else row.cache_write_1h,
                row.lc_cache_read if row.lc_cache_read is not None else row.cache_read,
                row.lc_output if row.lc_output is not None else row.output,
            )
        )
    for label, inp, write_5m, write_1h, read, out in tiers:
        if inp <= 0 or out <= 0:
            raise RowError(f"{label}input and output prices must be positive")
        if read > inp:
            raise RowError(f"{label}cache read above input")
        if not inp <= write_5m <= inp * Decimal("2.5"):
            raise RowError(f"{label}5 m cache write outside input to 2.5 × input")
        if write_1h < write_5m:
            raise RowError(f"{label}1 h cache write below the 5 m write")
        if out < inp:
            raise RowError(f"{label}output below input")
    if row.long_context_threshold is not None and tiers[1][1] < row.input:
        raise RowError("long-context input below the base input")


def _litellm_row(model: str, entry: dict, book: PriceBook | None) -> PriceCandidate:
    provider = entry.get("litellm_provider")
    if "input_cost_per_token" not in entry or "output_cost_per_token" not in entry:
        raise RowError("input or output price missing")
    inp = _per_million(entry["input_cost_per_token"], "input_cost_per_token", MILLION)
    out = _per_million(entry["output_cost_per_token"], "output_cost_per_token", MILLION)

    def price(name: str, default: Decimal) -> Decimal:
        value = entry.get(name)
        return default if value is None else _per_million(value, name, MILLION)

    is_anthropic = provider == "anthropic"
    write_5m = price(
        "cache_creation_input_token_cost", inp * ANTHROPIC_5M_FACTOR if is_anthropic else inp
    )
    write_1h = price(
        "cache_creation_input_token_cost_above_1hr",
        inp * ANTHROPIC_1H_FACTOR if is_anthropic else write_5m,
    )
    row = PriceCandidate(
        model=model,
        family=guess_family(model, book),
        provider=str(provider),  # entries of other providers were left out before
        input=inp,
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
        cache_read=price("cache_read_input_token_cost", inp),
        output=out,
    )
    thresholds = sorted(
        int(match.group(1)) for key in entry if (match := TIER_RE.match(key)) is not None
    )
    if thresholds:
        # One tier is stored; the lowest threshold is the one every long request crosses first.
        size = thresholds[0]
        suffix = f"_above_{size}k_tokens"

        def tier(name: str) -> Decimal | None:
            value = entry.get(name + suffix)
            return None if value is None else _per_million(value, name + suffix, MILLION)

        row.long_context_threshold = size * 1000
        row.lc_input = tier("input_cost_per_token")
        row.lc_output = tier("output_cost_per_token")
        # Prompt-side prices the file leaves out scale with the tier's input price.
        if row.lc_input is None:
            raise RowError("the long-context tier has no input price")
        ratio = row.lc_input / inp

        def scaled(name: str, base: Decimal) -> Decimal:
            given = tier(name)
            return given if given is not None else (base * ratio).quantize(QUANTUM, ROUND_HALF_UP)

        row.lc_cache_write_5m = scaled("cache_creation_input_token_cost", write_5m)
        row.lc_cache_write_1h = scaled("cache_creation_input_token_cost_above_1hr", write_1h)
        row.lc_cache_read = scaled("cache_read_input_token_cost", row.cache_read)
    return row


def _simple_row(model: str, entry: dict, book: PriceBook | None) -> PriceCandidate:
    currency = entry.get("currency", "USD")
    if currency != "USD":
        raise RowError(f"currency {str(currency)[:10]!r} is not USD")
    if "input_per_1k" not in entry or "output_per_1k" not in entry:
        raise RowError("input_per_1k or output_per_1k missing")
    inp = _per_million(entry["input_per_1k"], "input_per_1k", THOUSAND)
    out = _per_million(entry["output_per_1k"], "output_per_1k", THOUSAND)
    cached = entry.get("cached_per_1k")
    read = inp if cached is None else _per_million(cached, "cached_per_1k", THOUSAND)
    is_anthropic = model.startswith("claude")
    return PriceCandidate(
        model=model,
        family=guess_family(model, book),
        provider="anthropic" if is_anthropic else "openai",
        input=inp,
        cache_write_5m=inp * ANTHROPIC_5M_FACTOR if is_anthropic else inp,
        cache_write_1h=inp * ANTHROPIC_1H_FACTOR if is_anthropic else inp,
        cache_read=read,
        output=out,
    )


def parse_prices(payload: Any, *, book: PriceBook | None = None) -> ParsedPrices:
    """Candidates from either shape, each row checked; nothing is written here."""
    if not isinstance(payload, dict):
        raise ValueError("the price list must be a JSON object keyed by model")
    parsed = ParsedPrices()
    for model, entry in payload.items():
        if not isinstance(entry, dict) or model == "sample_spec":
            parsed.ignored += 1
            continue
        simple = "input_per_1k" in entry or "output_per_1k" in entry
        if not simple and (
            entry.get("litellm_provider") not in PROVIDERS
            or entry.get("mode") not in CHAT_MODES
            or "/" in model
        ):
            parsed.ignored += 1
            continue
        if not model or len(model) > 200 or model != model.strip():
            parsed.skipped.append((model[:200], "model id is empty, too long or padded"))
            continue
        try:
            row = _simple_row(model, entry, book) if simple else _litellm_row(model, entry, book)
            check(row)
        except RowError as error:
            parsed.skipped.append((model, str(error)))
            continue
        parsed.rows.append(row)
    return parsed
