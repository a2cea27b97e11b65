"""Wire shapes of the usage dialect (camelCase JSON, and the breakdown CSV), from selector data.

Plain functions rather than DRF serializers: these answers are the hot read path (bench/reads.py
measures the routes). `bench/serializers.py` measured the recent feed's 500-row page at 0.8 µs a
row here against 12 µs a row for a DRF `Serializer(many=True)` declaring the same fields (15x;
about 0.4 ms against 6 ms an answer; 2 cores, load average 9.7, 2026-11-29).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from core.time import epoch_ms, epoch_seconds
from usage.aggregation import MICROS_PER_USD, Sums
from usage.rollups import COUNTERS
from usage.selectors import BREAKDOWN_GROUP, Series, UserDetail, breakdown_by_family

# json's own string encoder for ensure_ascii=False (C when CPython has it).
_json_string = encode_basestring


def _tokens(item: Sums) -> dict[str, int]:
    return {
        "input": item.input,
        "cacheCreation": item.cache_creation,
        "cacheRead": item.cache_read,
        "output": item.output,
        "sum": item.tokens_raw,
    }


def totals_data(item: Sums) -> dict[str, Any]:
    """The `totals` object of /api/usage/totals (also of users/<name> and its parts)."""
    return {**_tokens(item), "messages": item.messages, "costUsd": item.cost_usd}


def totals_body(item: Sums, *, at: datetime) -> dict[str, Any]:
    """The /api/usage/totals body, also the SSE `totals` event and /embed/totals."""
    return {"totals": totals_data(item), "timestamp": epoch_seconds(at)}


def timeseries_body(series: Series) -> dict[str, Any]:
    return {
        "from": series.bounds[0],
        "to": series.bounds[-1],
        "step": series.step_ms,
        "tz": str(series.tz) if series.tz is not None else "UTC",
        "buckets": [
            {
                "ts": bound,
                "messages": item.messages,
                "tokensRaw": item.tokens_raw,
                "tokensWeighted": item.tokens_weighted,
                "costUsd": item.cost_usd,
            }
            for bound, item in zip(series.bounds, series.sums, strict=False)
        ],
    }


def leaderboard_body(by: str, entries: list[tuple[str, Sums]]) -> dict[str, Any]:
    return {
        "by": by,
        "entries": [
            {
                "key": key,
                "messages": item.messages,
                "tokens": _tokens(item),
                "tokensWeighted": item.tokens_weighted,
                # wigtoken's name for the same number; its dashboard and widget read this one.
                "weightedInputEq": item.tokens_weighted,
                "costUsd": item.cost_usd,
            }
            for key, item in entries
        ],
    }


def user_detail_body(detail: UserDetail) -> dict[str, Any]:
    return {
        "user": detail.user,
        "totals": {
            **totals_data(detail.overall),
            "tokensWeighted": detail.overall.tokens_weighted,
            "weightedInputEq": detail.overall.tokens_weighted,
        },
        "perFamily": [
            {"modelFamily": family, **totals_data(item)} for family, item in detail.per_family
        ],
        "perMachine": [
            {"machine": machine, **totals_data(item)} for machine, item in detail.per_machine
        ],
    }


def recent_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "entries": [
            {
                "messageId": row["message_id"],
                "user": row["user"],
                "machine": row["machine"],
                "model": row["model"],
                "modelFamily": row["model_family"],
                "input": row["input"],
                "cacheCreation": row["cache_creation"],
                "cacheRead": row["cache_read"],
                "output": row["output"],
                "reasoning": row["reasoning"],
                "tokensWeighted": row["tokens_weighted"],
                "costUsd": row["cost_micros"] / MICROS_PER_USD,
                "ts": epoch_ms(row["ts"]),
                # wigtoken's names for the same numbers, read by its dashboard and widget.
                "inputTokens": row["input"],
                "outputTokens": row["output"],
                "weightedInputEq": row["tokens_weighted"],
            }
            for row in rows
        ]
    }


def breakdown_rows(groups: list[tuple[tuple[str, str, str, str], Sums]]) -> list[dict[str, Any]]:
    rows = []
    for (user, machine, model, family), item in groups:
        rows.append(
            {
                "user": user,
                "machine": machine,
                "model": model,
                "modelFamily": family,
                "messages": item.messages,
                "input": item.input,
                "cacheCreation": item.cache_creation,
                "cacheCreation1h": item.cache_creation_1h,
                "cacheRead": item.cache_read,
                "output": item.output,
                "reasoning": item.reasoning,
                "tokensWeighted": item.tokens_weighted,
                "costUsd": item.cost_usd,
            }
        )
    return rows


# `kind` of the breakdown's `tokens` entries → Sums attribute, in answer order.
TOKEN_KINDS = (
    ("input", "input"),
    ("cacheCreation", "cache_creation"),
    ("cacheRead", "cache_read"),
    ("output", "output"),
    ("reasoning", "reasoning"),
)


def breakdown_tokens(groups: list[tuple[tuple[str, str, str, str], Sums]]) -> list[dict[str, Any]]:
    """wigtoken's `tokens`: one entry per user × machine × model × kind with a non-zero count."""
    return [
        {
            "user": user,
            "machine": machine,
            "model": model,
            "modelFamily": family,
            "kind": kind,
            "tokens": tokens,
        }
        for (user, machine, model, family), item in groups
        for kind, tokens in zip(_TOKEN_NAMES, _token_counts(item), strict=True)
        if tokens
    ]


_TOKEN_NAMES = tuple(kind for kind, _attribute in TOKEN_KINDS)


def _token_counts(item: Sums) -> tuple[int, int, int, int, int]:
    """The counts of TOKEN_KINDS, in its order."""
    return (item.input, item.cache_creation, item.cache_read, item.output, item.reasoning)


assert tuple(attribute for _kind, attribute in TOKEN_KINDS) == (
    "input",
    "cache_creation",
    "cache_read",
    "output",
    "reasoning",
)


def breakdown_cost(groups: list[tuple[tuple[str, str, str, str], Sums]]) -> list[dict[str, Any]]:
    """wigtoken's `cost`: one entry per user × machine × model family (summed in micro-USD)."""
    return [
        {
            "user": user,
            "machine": machine,
            "modelFamily": family,
            "messages": item.messages,
            "costUsd": item.cost_usd,
            "weightedInputEq": item.tokens_weighted,
        }
        for (user, machine, family), item in breakdown_by_family(groups)
    ]


def breakdown_body(
    groups: list[tuple[tuple[str, str, str, str], Sums]], *, at: datetime
) -> dict[str, Any]:
    """`rows`, plus the `tokens` and `cost` arrays wigtoken's dashboard reads, from one read."""
    return {
        "rows": breakdown_rows(groups),
        "tokens": breakdown_tokens(groups),
        "cost": breakdown_cost(groups),
        "timestamp": epoch_seconds(at),
    }


def breakdown_json(groups: list[tuple[tuple[str, str, str, str], Sums]], *, at: datetime) -> bytes:
    """`breakdown_body` as the usage dialect's JSON bytes (`json.dumps(..., ensure_ascii=False,
    separators=(",", ":"))`, UTF-8), byte for byte, written directly.

    At 2,000 groups the body is ~12,000 objects and 1.7 MB; building the dicts and encoding them
    took 30 ms of the route's ~50 (bench/reads.py). Here each group's four names are encoded
    once for its row, its five token entries and its cost entry, and the numbers are formatted
    as json does (`int.__repr__`, `float.__repr__`). tests/usage/test_breakdown.py holds it
    equal to `json.dumps(breakdown_body(...))`.
    """
    text = _json_string
    rows, tokens = [], []
    for (user, machine, model, family), item in groups:
        names = (
            f'"user":{text(user)},"machine":{text(machine)},'
            f'"model":{text(model)},"modelFamily":{text(family)}'
        )
        rows.append(
            f'{{{names},"messages":{item.messages!r},"input":{item.input!r},'
            f'"cacheCreation":{item.cache_creation!r},'
            f'"cacheCreation1h":{item.cache_creation_1h!r},"cacheRead":{item.cache_read!r},'
            f'"output":{item.output!r},"reasoning":{item.reasoning!r},'
            f'"tokensWeighted":{item.tokens_weighted!r},"costUsd":{_json_float(item.cost_usd)}}}'
        )
        for kind, count in zip(_TOKEN_NAMES, _token_counts(item), strict=True):
            if count:
                tokens.append(f'{{{names},"kind":{text(kind)},"tokens":{count!r}}}')
    cost = [
        f'{{"user":{text(user)},"machine":{text(machine)},"modelFamily":{text(family)},'
        f'"messages":{item.messages!r},"costUsd":{_json_float(item.cost_usd)},'
        f'"weightedInputEq":{item.tokens_weighted!r}}}'
        for (user, machine, family), item in breakdown_by_family(groups)
    ]
    body = (
        f'{{"rows":[{",".join(rows)}],"tokens":[{",".join(tokens)}],'
        f'"cost":[{",".join(cost)}],"timestamp":{epoch_seconds(at)!r}}}'
    )
    return body.encode()


def _json_float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
    return float.__repr__(value)


# The group's key, then its counters, with the cost in USD (six decimals) instead of micro-USD.
CSV_COLUMNS = (*BREAKDOWN_GROUP, *COUNTERS[:-1], "cost_usd")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A leading quote keeps spreadsheets from running client-chosen text as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def breakdown_csv(groups: list[tuple[tuple[str, str, str, str], Sums]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    # Users, machines, models and families repeat across thousands of rows: each distinct
    # name is made safe once; the rows go to the C writer in one call.
    safe: dict[str, str] = {}
    for key, _item in groups:
        for name in key:
            if name not in safe:
                safe[name] = csv_safe(name)
    writer.writerows(
        (
            safe[user],
            safe[machine],
            safe[model],
            safe[family],
            *item.values()[:-1],
            f"{item.cost_usd:.6f}",
        )
        for (user, machine, model, family), item in groups
    )
    return out.getvalue()
