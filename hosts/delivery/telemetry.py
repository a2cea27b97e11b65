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
from core.validation import text_problem
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
    if not text or len(text) > CLIENT_ID_MAX or not text.isprintable() or text_problem(text):
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
        elif line is not None and (problem := text_problem(line)):
            errors["line"] = problem

    model = raw.get("model")
    if model is not None and not isinstance(model, str):
        errors["model"] = "Must be a string."
    model = (model or "").strip() if isinstance(model, str) else ""
    if len(model) > MODEL_MAX:
        errors["model"] = f"Must be at most {MODEL_MAX} characters."
    elif problem := text_problem(model):
        errors["model"] = problem
    if errors:
        return None, errors

    has_number = any(value is not None for value in numbers.values())
    if line is not None:
        parsed = parse_usage_line(line)
        if not has_number and parsed.is_empty():
            return None, {"line": "No token counts found in the line."}
        for name in NUMBER_FIELDS:
            if numbers[name] is None:
                from_line = getattr(parsed, name)
                if from_line is not None and from_line > COUNT_MAX:
                    return None, {"line": f"{name} is over {COUNT_MAX}."}
                numbers[name] = from_line
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


@dataclass(frozen=True)
class ParsedUsage:
    entries: list[CodexUsage]
    # Refused entries of a `usages` batch: {"index", "error", "errors": {field: message}}.
    rejected: list[dict]


def usage_entries_parse(body: Any, *, max_entries: int) -> ParsedUsage:
    """The valid entries of the body, and the refused ones of a batch.

    A single entry (the body itself) that is invalid is a 422 naming each problem. In a
    `usages` batch a bad entry is refused alone and listed; the others are stored."""
    if not isinstance(body, dict):
        raise ApplicationError("Body must be a JSON object.", status_code=422)
    if "usages" not in body:
        entry, problems = _entry(body)
        if entry is None:
            fields = {field or "non_field_errors": problem for field, problem in problems.items()}
            raise ApplicationError("Validation failed.", status_code=422, fields=fields)
        return ParsedUsage(entries=[entry], rejected=[])
    raw_entries = body["usages"]
    if not isinstance(raw_entries, list):
        raise ApplicationError(
            "Validation failed.", status_code=422, fields={"usages": "Must be an array."}
        )
    if len(raw_entries) > max_entries:
        raise ApplicationError(
            f"Too many usage entries (at most {max_entries} per request).", status_code=413
        )
    entries: list[CodexUsage] = []
    rejected: list[dict] = []
    for index, raw in enumerate(raw_entries):
        entry, problems = _entry(raw)
        if entry is not None:
            entries.append(entry)
            continue
        errors = {
            f"usages.{index}.{field}" if field else f"usages.{index}": [problem]
            for field, problem in problems.items()
        }
        rejected.append({"index": index, "error": "; ".join(problems.values()), "errors": errors})
    return ParsedUsage(entries=entries, rejected=rejected)
