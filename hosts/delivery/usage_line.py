"""Parse the Codex CLI summary line into token counts.

Codex ends a run with `Token usage: total=1,234 input=1,000 (+ 5,000 cached) output=234
(reasoning 120)`: `input` is the non-cached input, `(+ N cached)` the cached input, `output`
includes the reasoning tokens and `total` excludes cached tokens. The parenthesised parts are left
out when zero, numbers carry thousands separators, and a terminal may wrap it in ANSI colours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# CSI sequences (colours, bold, cursor moves) and the two-byte ESC forms.
_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+)"
_TOTAL_RE = re.compile(rf"\btotal\s*[=:]\s*{_NUMBER}(?![\d,]*\d)", re.IGNORECASE)
_INPUT_RE = re.compile(rf"\binput\s*[=:]\s*{_NUMBER}(?![\d,]*\d)", re.IGNORECASE)
_OUTPUT_RE = re.compile(rf"\boutput\s*[=:]\s*{_NUMBER}(?![\d,]*\d)", re.IGNORECASE)
_CACHED_RE = re.compile(rf"\(\s*\+\s*{_NUMBER}\s+cached\s*\)", re.IGNORECASE)
_REASONING_RE = re.compile(rf"\(\s*reasoning\s*[=:]?\s*{_NUMBER}\s*\)", re.IGNORECASE)
_MARKER = "token usage:"


@dataclass(frozen=True)
class LineUsage:
    """What a summary line said; a part the line left out is None."""

    total: int | None = None
    input: int | None = None
    cached: int | None = None
    output: int | None = None
    reasoning: int | None = None

    def is_empty(self) -> bool:
        return all(
            value is None
            for value in (self.total, self.input, self.cached, self.output, self.reasoning)
        )


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def clean_line(text: str) -> str:
    """The line as stored: colours removed, surrounding whitespace trimmed."""
    return strip_ansi(text).strip()


def _number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(match.group(1).replace(",", "")) if match else None


def parse_usage_line(text: str) -> LineUsage:
    """The counts in `text`; every field None when the line carries none."""
    cleaned = clean_line(text)
    marker = cleaned.lower().find(_MARKER)
    if marker >= 0:
        cleaned = cleaned[marker + len(_MARKER) :]
    return LineUsage(
        total=_number(_TOTAL_RE, cleaned),
        input=_number(_INPUT_RE, cleaned),
        cached=_number(_CACHED_RE, cleaned),
        output=_number(_OUTPUT_RE, cleaned),
        reasoning=_number(_REASONING_RE, cleaned),
    )
