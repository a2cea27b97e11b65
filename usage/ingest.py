"""Validation of ingest batches, by hand: a DRF serializer per message is too slow for 1000.

The batch as a whole is refused (400/413) for a body that is not an object, a bad machine or a
`messages` that is not an array or is too long; a bad message is refused alone and listed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from core.errors import ApplicationError
from core.time import TimeValueError, parse_time
from core.validation import text_problem
from usage.models import Source
from usage.pricing import UNKNOWN_MODEL
from usage.records import NewRecord

MACHINE_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
MAX_COUNT = 10**9
MAX_ID_LENGTH = 255
MAX_MODEL_LENGTH = 200
# Usage older than this predates the agents we account for; newer than now + slack is a clock bug.
TS_EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
TS_FUTURE_SLACK = timedelta(days=1)
# Codex usage from `POST /usage` is stored under `codex:<host id>:<client id>`; only that route
# may write such ids, or any ingest credential could claim a host's ids before the host sends them.
# (The collector's Codex ids, `codex:<session uuid>:...`, are not in this namespace.)
RESERVED_ID_RE = re.compile(r"codex:[0-9]+:")

# Body fields of the counts, in NewRecord order: input, cache_creation, cache_creation_1h,
# cache_read, output, reasoning.
COUNT_NAMES = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "reasoning_tokens",
)
CLAUDE = str(Source.CLAUDE)
SOURCES = frozenset(str(source) for source in Source)


class MessageError(ValueError):
    """One message is refused; the text goes back to the client with the message's index."""


def batch_validate(body: Any, *, forced_machine: str | None) -> tuple[str, list]:
    """(machine, raw messages) of a batch, or ApplicationError for the whole batch."""
    if not isinstance(body, dict):
        raise ApplicationError("Request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ApplicationError(
            "Invalid request.", fields={"messages": "Must be an array of messages."}
        )
    if len(messages) > settings.INGEST_MAX_BATCH:
        raise ApplicationError(
            f"Too many messages: at most {settings.INGEST_MAX_BATCH} per batch.",
            status_code=413,
        )
    if forced_machine is not None:
        return forced_machine, messages
    machine = body.get("machine")
    if not isinstance(machine, str) or not MACHINE_RE.fullmatch(machine):
        raise ApplicationError(
            "Invalid request.",
            fields={"machine": "Required: 1-100 characters of letters, digits, '_', '.', '-'."},
        )
    return machine, messages


def parse_ts(value: Any, *, now: datetime) -> datetime:
    """core.time's rule (epoch seconds, milliseconds or ISO 8601), plausible dates only.

    A missing or null `ts` is the server's receive time `now`, as wigtoken's server takes it.
    """
    if value is None:
        return now
    if isinstance(value, bool):
        raise MessageError("ts must be epoch seconds, milliseconds or ISO 8601.")
    try:
        ts = parse_time(value)
    except TimeValueError as error:
        if error.implausible:
            raise MessageError("ts is not a plausible time.") from None
        raise MessageError("ts is not epoch seconds, milliseconds or ISO 8601.") from None
    if ts < TS_EARLIEST or ts > now + TS_FUTURE_SLACK:
        raise MessageError("ts is not a plausible time.")
    return ts


def _check_text(name: str, value: str) -> None:
    problem = text_problem(value)
    if problem:
        raise MessageError(f"{name}: {problem}")


def _bad_count(name: str, value: Any) -> MessageError:
    if type(value) is int and value > MAX_COUNT:
        return MessageError(f"{name} is over {MAX_COUNT}.")
    return MessageError(f"{name} must be a non-negative integer.")


def message_parse(
    message: Any, *, user: str, machine: str, host_id: int | None, now: datetime
) -> NewRecord:
    """One valid message as a NewRecord, or MessageError. Runs a thousand times per batch."""
    if type(message) is not dict:
        raise MessageError("Message must be a JSON object.")
    get = message.get
    message_id = get("message_id")
    if type(message_id) is not str or not message_id.strip():
        raise MessageError("message_id is required.")
    if len(message_id) > MAX_ID_LENGTH:
        raise MessageError(f"message_id is longer than {MAX_ID_LENGTH} characters.")
    _check_text("message_id", message_id)
    if RESERVED_ID_RE.match(message_id):
        raise MessageError(
            "message_id must not start with codex:<number>: (reserved for POST /usage)."
        )
    model = get("model")
    if model is None:
        # wigtoken's agent sends null when a transcript line names no model; such a message
        # is still usage. Stored under `unknown`, never priced (see PriceBook.candidates).
        model = UNKNOWN_MODEL
    elif type(model) is not str or not model.strip():
        raise MessageError("model must be a non-empty string or null.")
    if len(model) > MAX_MODEL_LENGTH:
        raise MessageError(f"model is longer than {MAX_MODEL_LENGTH} characters.")
    _check_text("model", model)
    request_id = get("request_id")
    if request_id is not None and (type(request_id) is not str or len(request_id) > 255):
        raise MessageError("request_id must be a string of at most 255 characters.")
    if request_id is not None:
        _check_text("request_id", request_id)
    counts = []
    for name in COUNT_NAMES:
        value = get(name)
        if value is None:
            counts.append(0)
        # bool is an int subclass; floats (even 12.0) are refused: counts are whole tokens.
        elif type(value) is int and 0 <= value <= MAX_COUNT:
            counts.append(value)
        else:
            raise _bad_count(name, value)
    input_tokens, cache_creation, cache_creation_1h, cache_read, output, reasoning = counts
    # Optional: the host collector sends Codex session-log turns as `codex`; default `claude`.
    source = get("source", CLAUDE)
    if source not in SOURCES:
        raise MessageError(f"source must be one of: {', '.join(sorted(SOURCES))}.")
    if cache_creation_1h > cache_creation:
        raise MessageError(
            "cache_creation_1h_input_tokens is larger than cache_creation_input_tokens."
        )
    return NewRecord(
        message_id,
        source,
        user,
        machine,
        model.strip(),
        parse_ts(get("ts"), now=now),
        input_tokens,
        cache_creation,
        cache_creation_1h,
        cache_read,
        output,
        reasoning,
        request_id or None,
        host_id,
    )
