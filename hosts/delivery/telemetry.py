"""Validation of `POST /usage` entries (Codex token telemetry), before anything is stored.

An entry carries numbers (`total`, `input`, `output`, `cached`, `reasoning`), a summary `line`
the server parses, or both; explicit numbers win over the line's. Meaning follows Codex: `input`
is non-cached input, `cached` the cached input, `output` includes `reasoning`, `total` excludes
cached tokens. Missing parts are derived from `total` where they can be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ApplicationError
from hosts.delivery.usage_line import clean_line, parse_usage_line

# Codex's summary line names no model. The label is explicit about that rather than guessing a
# price; an admin can give it a price (prefix `codex-unspecified`) if one model is used fleet-wide.
DEFAULT_MODEL = "codex-unspecified"
NUMBER_FIELDS = ("total", "input", "cached", "output", "reasoning")
COUNT_MAX = 10**9
LINE_MAX = 2000
MODEL_MAX = 200
CLIENT_ID_MAX = 128


@dataclass(frozen=True)
class CodexUsage:
    client_id: str | None
    total: int
    input: int  # non-cached
    cached: int
    output: int  # includes reasoning
    reasoning: int
    model: str
    line: str | None


def _count(value: Any) -> tuple[int | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int):
        return None, "Must be a non-negative integer."
    if value < 0:
        return None, "Must be a non-negative integer."
    if value > COUNT_MAX:
        return None, f"Must be at most {COUNT_MAX}."
    return value, None


def _client_id(value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None, "Must be a string or an integer."
    text = str(value).strip()
    if not text or len(text) > CLIENT_ID_MAX or not text.isprintable():
        return None, f"Must be 1-{CLIENT_ID_MAX} printable characters."
    return text, None


def _entry(raw: Any) -> tuple[CodexUsage | None, dict[str, str]]:
    if not isinstance(raw, dict):
        return None, {"": "Each usage entry must be an object."}
    errors: dict[str, str] = {}
    numbers: dict[str, int | None] = {}
    for name in NUMBER_FIELDS:
        numbers[name], problem = _count(raw.get(name))
        if problem:
            errors[name] = problem
    client_id, problem = _client_id(raw.get("id"))
    if problem:
        errors["id"] = problem

    line = raw.get("line")
    if line is not None and not isinstance(line, str):
        errors["line"] = "Must be a string."
        line = None
    if isinstance(line, str):
        line = clean_line(line) or None
        if line is not None and len(line) > LINE_MAX:
            errors["line"] = f"Must be at most {LINE_MAX} characters."

    model = raw.get("model")
    if model is not None and not isinstance(model, str):
        errors["model"] = "Must be a string."
    model = (model or "").strip() if isinstance(model, str) else ""
    if len(model) > MODEL_MAX:
        errors["model"] = f"Must be at most {MODEL_MAX} characters."
    if errors:
        return None, errors

    has_number = any(value is not None for value in numbers.values())
    if line is not None:
        parsed = parse_usage_line(line)
        if not has_number and parsed.is_empty():
            return None, {"line": "No token counts found in the line."}
        for name in NUMBER_FIELDS:
            if numbers[name] is None:
                numbers[name] = getattr(parsed, name)
    elif not has_number:
        return None, {"": "A usage entry needs at least one token count or a line."}

    total, input_, output = numbers["total"], numbers["input"], numbers["output"]
    cached, reasoning = numbers["cached"] or 0, numbers["reasoning"] or 0
    if output is None and input_ is not None and total is not None:
        output = max(total - input_, 0)
    if input_ is None:
        input_ = max(total - (output if output is not None else reasoning), 0) if total else 0
    if output is None:
        output = reasoning
    if reasoning > output:
        return None, {"reasoning": "Reasoning tokens are part of output and cannot exceed it."}
    return (
        CodexUsage(
            client_id=client_id,
            total=total if total is not None else input_ + output,
            input=input_,
            cached=cached,
            output=output,
            reasoning=reasoning,
            model=model or DEFAULT_MODEL,
            line=line,
        ),
        {},
    )


def usage_entries_parse(body: Any, *, max_entries: int) -> list[CodexUsage]:
    """Every entry of the body, or a 422 naming each problem (`usages.<i>.<field>`)."""
    if not isinstance(body, dict):
        raise ApplicationError("Body must be a JSON object.", status_code=422)
    if "usages" in body:
        raw_entries = body["usages"]
        if not isinstance(raw_entries, list):
            raise ApplicationError(
                "Validation failed.", status_code=422, fields={"usages": "Must be an array."}
            )
        prefix = "usages."
    else:
        raw_entries, prefix = [body], ""
    if len(raw_entries) > max_entries:
        raise ApplicationError(
            f"Too many usage entries (at most {max_entries} per request).", status_code=413
        )
    entries: list[CodexUsage] = []
    errors: dict[str, str] = {}
    for index, raw in enumerate(raw_entries):
        entry, problems = _entry(raw)
        at = f"{prefix}{index}" if prefix else ""
        for field, problem in problems.items():
            key = ".".join(part for part in (at, field) if part) or "non_field_errors"
            errors[key] = problem
        if entry is not None:
            entries.append(entry)
    if errors:
        raise ApplicationError("Validation failed.", status_code=422, fields=errors)
    return entries
