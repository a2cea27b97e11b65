"""The one environment reader for settings: django-environ, made strict.

django-environ as shipped is lenient in ways that hide operator mistakes:
- a boolean that is not a known "true" word is silently False (`DEBUG=ture` → False);
- a value that starts with `$` is taken as the name of another variable (a secret such as
  `DASHBOARD_ADMIN_KEY=$ecret` silently becomes the default);
- `NAME_FILE` content keeps the trailing newline every editor writes, and a missing file is a
  bare traceback.
`StrictEnv` keeps the `environ.Env` interface the settings use and changes only those.
"""

from __future__ import annotations

import math
import os
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", "n", "f"})


def parse_bool(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of true/false, yes/no, on/off, 1/0."
    )


class StrictEnv(environ.Env):
    """`environ.Env` with strict booleans and numbers, literal values and `NAME_FILE` support.

    `NAME_FILE` names a file whose content (without its trailing newline) is the value; setting
    both `NAME` and `NAME_FILE` is an error, so an operator never wonders which one won.
    """

    def __init__(self, environ_mapping: Any = None, **scheme: Any) -> None:
        super().__init__(**scheme)
        self.source = os.environ if environ_mapping is None else environ_mapping

    def raw(self, var: str) -> str | None:
        """The literal value of `var` (or of the file `var_FILE` names), None when unset."""
        file_path = self.source.get(f"{var}_FILE")
        if file_path:
            if self.source.get(var) is not None:
                raise ImproperlyConfigured(f"Set {var} or {var}_FILE, not both.")
            try:
                with open(file_path, encoding="utf-8") as handle:
                    return handle.read().rstrip("\r\n")
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"{var}_FILE={file_path!r} cannot be read: {exc.strerror}."
                ) from None
        return self.source.get(var)

    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default=False
    ) -> Any:
        value = self.raw(var)
        if cast is None and default is not None and not isinstance(default, environ.NoValue):
            cast = type(default)
        if value is None or (value.strip() == "" and cast in (bool, int, float)):
            # Unset, or blank for a scalar (compose files write `DEBUG=` for "not given").
            if isinstance(default, environ.NoValue):
                raise ImproperlyConfigured(f"Set the {var} environment variable.")
            if parse_default and default is not None:
                return self._cast(var, default, cast)
            return default
        if value == "" and default is None:
            return None
        return self._cast(var, value, cast)

    def _cast(self, var: str, value: Any, cast: Any) -> Any:
        if not isinstance(value, str):
            return value
        if cast is bool:
            return parse_bool(var, value)
        if cast is list:
            # Items are trimmed: `ALLOWED_HOSTS=a, b` means "a" and "b", not " b".
            return [item.strip() for item in value.split(",") if item.strip()]
        try:
            if cast is int:
                return int(value.strip())
            if cast is float:
                # environ's float drops every non-digit ("1e3" → 13.0); Python's parser does not.
                number = float(value.strip())
                if not math.isfinite(number):
                    raise ValueError(value)
                return number
            return self.parse_value(value, cast)
        except (TypeError, ValueError):
            kind = getattr(cast, "__name__", str(cast))
            raise ImproperlyConfigured(f"{var}={value!r} is not a valid {kind}.") from None


env = StrictEnv()
