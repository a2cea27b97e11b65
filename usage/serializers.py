"""Wire shapes of the usage dialect (camelCase JSON, and the breakdown CSV), from selector data.

Plain functions rather than DRF serializers: these answers are the hot read path (bench/reads.py
measures the routes). `bench/serializers.py` measured the recent feed's 500-row page at 0.8 µs a
row here against 12 µs a row for a DRF `Serializer(many=True)` declaring the same fields (15x;
about 0.4 ms against 6 ms an answer; 2 cores, load average 9.7, 2026-11-29).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from core.time import epoch_ms, epoch_seconds
from usage.aggregation import MICROS_PER_USD, Sums
from usage.rollups import COUNTERS
from usage.selectors import (
    BREAKDOWN_GROUP,
    BreakdownRow,
    Series,
    UserDetail,
    breakdown_by_family,
)

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


def breakdown_rows(rows: list[BreakdownRow]) -> list[dict[str, Any]]:
    return [
        {
            "user": user,
            "machine": machine,
            "model": model,
            "modelFamily": family,
            "messages": messages,
            "input": input_,
            "cacheCreation": cache_creation,
            "cacheCreation1h": cache_creation_1h,
            "cacheRead": cache_read,
            "output": output,
            "reasoning": reasoning,
            "tokensWeighted": weighted,
            "costUsd": cost / MICROS_PER_USD,
        }
        for (
            user,
            machine,
            model,
            family,
            messages,
            input_,
            cache_creation,
            cache_creation_1h,
            cache_read,
            output,
            reasoning,
            weighted,
            cost,
        ) in rows
    ]


# What a BreakdownRow holds, in order.
BREAKDOWN_COLUMNS = (*BREAKDOWN_GROUP, *COUNTERS)
# `kind` of the breakdown's `tokens` entries, in answer order, and where a row holds its count.
TOKEN_KINDS = (
    ("input", 5),
    ("cacheCreation", 6),
    ("cacheRead", 8),
    ("output", 9),
    ("reasoning", 10),
)
assert [BREAKDOWN_COLUMNS[index] for _kind, index in TOKEN_KINDS] == [
    "input",
    "cache_creation",
    "cache_read",
    "output",
    "reasoning",
]


def breakdown_tokens(rows: list[BreakdownRow]) -> list[dict[str, Any]]:
    """wigtoken's `tokens`: one entry per user × machine × model × kind with a non-zero count."""
    return [
        {
            "user": row[0],
            "machine": row[1],
            "model": row[2],
            "modelFamily": row[3],
            "kind": kind,
            "tokens": row[index],
        }
        for row in rows
        for kind, index in TOKEN_KINDS
        if row[index]
    ]


def breakdown_cost(rows: list[BreakdownRow]) -> list[dict[str, Any]]:
    """wigtoken's `cost`: one entry per user × machine × model family (summed in micro-USD)."""
    return [
        {
            "user": user,
            "machine": machine,
            "modelFamily": family,
            "messages": messages,
            "costUsd": cost / MICROS_PER_USD,
            "weightedInputEq": weighted,
        }
        for user, machine, family, messages, weighted, cost in breakdown_by_family(rows)
    ]


def breakdown_body(rows: list[BreakdownRow], *, at: datetime) -> dict[str, Any]:
    """`rows`, plus the `tokens` and `cost` arrays wigtoken's dashboard reads, from one read.

    The readable statement of the answer: the route writes `breakdown_json`, which tests hold
    byte for byte equal to `json.dumps` of this."""
    return {
        "rows": breakdown_rows(rows),
        "tokens": breakdown_tokens(rows),
        "cost": breakdown_cost(rows),
        "timestamp": epoch_seconds(at),
    }


def breakdown_json(rows: list[BreakdownRow], *, at: datetime) -> bytes:
    """`breakdown_body` as the usage dialect's JSON bytes (`json.dumps(..., ensure_ascii=False,
    separators=(",", ":"))`, UTF-8), byte for byte, written directly.

    At 2,000 groups the body is ~12,000 objects and 1.7 MB; building the dicts and encoding them
    took 30 ms. Here each distinct name is encoded once, a group's four names once for its row
    and its token entries, and numbers are formatted as json does (`int.__repr__`, and
    `float.__repr__` of a quotient of integers, always finite): about 7 ms (bench/reads.py).
    """
    return breakdown_json_head(rows) + breakdown_json_tail(at)


def breakdown_json_head(rows: list[BreakdownRow]) -> bytes:
    """The breakdown's JSON up to its `timestamp` (which alone changes with the clock)."""
    text = _json_names()
    parts: list[str] = []
    tokens: list[str] = []
    part, token = parts.append, tokens.append
    for (
        user,
        machine,
        model,
        family,
        messages,
        input_,
        cache_creation,
        cache_creation_1h,
        cache_read,
        output,
        reasoning,
        weighted,
        cost,
    ) in rows:
        names = (
            f'"user":{text[user]},"machine":{text[machine]},'
            f'"model":{text[model]},"modelFamily":{text[family]}'
        )
        part(
            f'{{{names},"messages":{messages},"input":{input_},'
            f'"cacheCreation":{cache_creation},"cacheCreation1h":{cache_creation_1h},'
            f'"cacheRead":{cache_read},"output":{output},"reasoning":{reasoning},'
            f'"tokensWeighted":{weighted},"costUsd":{cost / MICROS_PER_USD!r}}}'
        )
        # TOKEN_KINDS, spelled out: one f-string per entry is most of this loop's time.
        if input_:
            token(f'{{{names},"kind":"input","tokens":{input_}}}')
        if cache_creation:
            token(f'{{{names},"kind":"cacheCreation","tokens":{cache_creation}}}')
        if cache_read:
            token(f'{{{names},"kind":"cacheRead","tokens":{cache_read}}}')
        if output:
            token(f'{{{names},"kind":"output","tokens":{output}}}')
        if reasoning:
            token(f'{{{names},"kind":"reasoning","tokens":{reasoning}}}')
    cost_parts = [
        f'{{"user":{text[user]},"machine":{text[machine]},"modelFamily":{text[family]},'
        f'"messages":{messages},"costUsd":{cost / MICROS_PER_USD!r},'
        f'"weightedInputEq":{weighted}}}'
        for user, machine, family, messages, weighted, cost in breakdown_by_family(rows)
    ]
    head = (
        f'{{"rows":[{",".join(parts)}],"tokens":[{",".join(tokens)}],'
        f'"cost":[{",".join(cost_parts)}],"timestamp":'
    )
    return head.encode()


def breakdown_json_tail(at: datetime) -> bytes:
    return f"{epoch_seconds(at)}}}".encode()


class _JsonNames(dict):
    """name → its JSON string literal, encoded on first use (names repeat across rows)."""

    def __missing__(self, name: str) -> str:
        literal = self[name] = _json_string(name)
        return literal


def _json_names() -> dict[str, str]:
    return _JsonNames()


# The group's key, then its counters, with the cost in USD (six decimals) instead of micro-USD.
CSV_COLUMNS = (*BREAKDOWN_GROUP, *COUNTERS[:-1], "cost_usd")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A leading quote keeps spreadsheets from running client-chosen text as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class _CsvCells(dict):
    """name → its CSV cell: made formula-safe, then quoted as `csv.writer` quotes it
    (QUOTE_MINIMAL), once per distinct name (names repeat across thousands of rows)."""

    def __missing__(self, name: str) -> str:
        out = io.StringIO()
        # Followed by an empty field: a lone empty field would be written `""`.
        csv.writer(out, lineterminator="\r\n").writerow((csv_safe(name), ""))
        cell = self[name] = out.getvalue()[: -len(",\r\n")]
        return cell


def breakdown_csv(rows: list[BreakdownRow]) -> str:
    """CSV_COLUMNS, one header row, then one line per row, as `csv.writer` writes them (CRLF):
    the names through the writer once each, the numbers (which never need quoting) written
    directly, about 3x faster than a row at a time through the writer."""
    cell = _CsvCells()
    lines = [",".join(CSV_COLUMNS)]
    line = lines.append
    for (
        user,
        machine,
        model,
        family,
        messages,
        input_,
        cache_creation,
        cache_creation_1h,
        cache_read,
        output,
        reasoning,
        weighted,
        cost,
    ) in rows:
        line(
            f"{cell[user]},{cell[machine]},{cell[model]},{cell[family]},{messages},{input_},"
            f"{cache_creation},{cache_creation_1h},{cache_read},{output},{reasoning},"
            f"{weighted},{cost / MICROS_PER_USD:.6f}"
        )
    lines.append("")
    return "\r\n".join(lines)
