"""The fleet cast (host `build-01`, auth.json builder) and the usage cast (frozen clock, message
builder), shared with the hardening tests."""

import sys

from tests.hosts.conftest import (  # noqa: F401  (fixtures)
    _upstreams_unreachable,
    codex_auth,
    host,
    host_client,
    host_key,
)
from tests.usage.conftest import frozen_now, ingest  # noqa: F401


def pytest_terminal_summary(terminalreporter):
    """The property suite's examples per route, and its 5xx count, for the closing figures."""
    module = sys.modules.get("tests.hardening.test_property")
    if module is None or not module.EXAMPLES_RUN:
        return
    terminalreporter.write_sep("-", "property examples per route")
    for route, count in sorted(module.EXAMPLES_RUN.items()):
        terminalreporter.write_line(f"{count:6d}  {route}")
    total = sum(module.EXAMPLES_RUN.values())
    terminalreporter.write_line(f"{total:6d}  in all; 5xx answers: {sum(module.FIVE_XX.values())}")
