"""Slash-command prompt files: filename rules, digests and `---` front matter."""

from __future__ import annotations

import re

FILENAME_MAX = 255
_FILENAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_FRONT_KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.*)$")
DESCRIPTION_MAX = 500
ARGUMENT_HINT_MAX = 255


def filename_error(filename: str) -> str | None:
    """Why `filename` cannot name a prompt file in `~/.codex/prompts/`, or None."""
    if not filename:
        return "Filename is required."
    if len(filename) > FILENAME_MAX:
        return f"Filename must be at most {FILENAME_MAX} characters."
    if not _FILENAME_RE.fullmatch(filename):
        return "Filename may contain only letters, digits, '.', '_' and '-'."
    # `..` anywhere, and `.` alone, would name a directory rather than a file in it.
    if ".." in filename or filename == ".":
        return "Filename must not contain '..'."
    return None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def front_matter(prompt: str) -> dict[str, str]:
    """`key: value` pairs of a leading `---` block (flat; later keys win); {} without one."""
    lines = prompt.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    values: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return values
        match = _FRONT_KEY_RE.match(line.strip())
        if match:
            values[match.group(1).lower().replace("_", "-")] = _unquote(match.group(2))
    return {}  # never closed: not front matter


def prompt_metadata(
    prompt: str, *, description: str | None, argument_hint: str | None
) -> tuple[str, str]:
    """Description and argument hint: explicit values win, else the front matter's."""
    found = front_matter(prompt)
    if description is None:
        description = found.get("description", "")
    if argument_hint is None:
        argument_hint = found.get("argument-hint", "")
    return description[:DESCRIPTION_MAX], argument_hint[:ARGUMENT_HINT_MAX]
