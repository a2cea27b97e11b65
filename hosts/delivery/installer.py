"""The bash script `GET /install/<token>` answers: fetch this host's baked `cdx` and install it.

Values are validated by the wrapper baker's rules and shell-quoted. The script checks the bytes
against the `X-SHA256` header before it replaces anything, and installs atomically (temp file in
the target directory, then `mv`).
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from hosts.wrapper.bake import BakeError, api_key_error, base_url_error, fqdn_error

TEMPLATE_PATH = Path(__file__).with_name("install.template")
_PLACEHOLDER_RE = re.compile(r"__TF_(?:BASE_URL|API_KEY|FQDN)__")


def installer_link(token: str) -> tuple[str, str]:
    """The installer link for a freshly minted token, and the command that runs it on a host."""
    url = f"{str(settings.PUBLIC_BASE_URL).rstrip('/')}/install/{token}"
    return url, f'curl -fsSL "{url}" | bash'


@lru_cache(maxsize=1)
def _template() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def installer_script(*, fqdn: str, api_key: str) -> bytes:
    """The installer for one host and its freshly minted key; raises BakeError on bad values."""
    base_url = str(settings.PUBLIC_BASE_URL).rstrip("/")
    problem = base_url_error(base_url) or fqdn_error(fqdn) or api_key_error(api_key)
    if problem:
        raise BakeError(problem)
    values = {
        "__TF_BASE_URL__": shlex.quote(base_url),
        "__TF_API_KEY__": shlex.quote(api_key),
        "__TF_FQDN__": shlex.quote(fqdn),
    }
    # One pass, so a substituted value is never scanned for further placeholders.
    text = _PLACEHOLDER_RE.sub(lambda match: values[match.group(0)], _template())
    return text.encode("utf-8")
