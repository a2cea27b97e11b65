"""Generated garbage at every route of both dialects (hypothesis), bounded for CI.

Every URL pattern the server has is found from the resolver, so a route added later is covered
without touching this file. Each example picks a method, a credential (none, each token scope,
a host key), a path (its parameters filled with junk), a query string and a body: JSON shaped
like our bodies (their field names) but carrying NUL, lone surrogates, extreme numbers and
dates, wrong types, deep nesting; or raw bytes under any content type. The properties: never a
5xx, always JSON on an API prefix (except the few successful non-JSON answers), and a mixed
batch stores every valid message exactly once while refusing each bad one alone.

The examples run per route are printed at the end of the session (PROPERTY_EXAMPLES=n changes
the bound per route; the default keeps the suite near a minute).
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from urllib.parse import quote_from_bytes

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.services import token_issue
from core.errors import dialect_for_path
from core.hashing import secret_hint, sha256_hex
from hosts.models import FleetSetting, Host, HostStatus
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "40"))
BATCH_EXAMPLES = int(os.environ.get("PROPERTY_BATCH_EXAMPLES", "25"))
HOST_KEY = "hk_" + "PropertyHostKeyAbCdEfGhIjKlMnOpQrStUv0123"
EXAMPLES_RUN: Counter[str] = Counter()
FIVE_XX: Counter[str] = Counter()

# Successful answers that are not JSON by design (CSV, Prometheus text, scripts, binaries).
NON_JSON_OK = {
    "api/usage/breakdown.csv",
    "api/ingest/collector",
    "metrics",
    "install/<str:token>",
    "wrapper/download",
    "api/usage/stream",
    "embed/stream",
    "api/schema",  # the OpenAPI description (YAML unless JSON is asked for)
    "api/docs",  # Swagger UI, an HTML page for admins
}
# Every field name our bodies use, so generated objects reach past "unknown field" checks.
FIELD_NAMES = [
    "machine", "messages", "message_id", "model", "ts", "request_id", "input_tokens",
    "cache_creation_input_tokens", "cache_creation_1h_input_tokens", "cache_read_input_tokens",
    "output_tokens", "reasoning_tokens", "command", "auth", "last_refresh", "digest",
    "client_version", "wrapper_version", "tokens", "access_token", "id_token", "refresh_token",
    "account_id", "OPENAI_API_KEY", "auths", "token", "token_type", "usages", "id", "line",
    "total", "input", "output", "cached", "reasoning", "filename", "prompt", "sha256",
    "description", "argument_hint", "fqdn", "owner", "user", "scope", "label", "expiresAt",
    "origin", "api_disabled", "scenario", "infra",
]  # fmt: skip
QUERY_NAMES = [
    "from", "to", "step", "tz", "user", "machine", "model_family", "by", "limit", "since",
    "token", "force", "include_body",
]  # fmt: skip


def routes() -> list[str]:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return [route for route in walk(get_resolver().url_patterns) if "django-admin" not in route]


# --- strategies ------------------------------------------------------------------------------

any_char = st.characters(codec=None, categories=None)  # surrogates and NUL included
# What storage cannot hold: PostgreSQL refuses NUL, UTF-8 cannot encode a lone surrogate.
poison = st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy"])
nasty_text = st.one_of(
    poison,
    poison.flatmap(lambda bad: st.text(any_char, max_size=20).map(lambda text: text + bad)),
    st.text(any_char, max_size=40),
    st.sampled_from(
        [
            "", " ", "🙂" * 3, "'; DROP TABLE x;--", "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z", "2026-11-20T10:00:00.123456789Z", "2026-02-30T10:00:00Z",
            "-99999999999", "1e308", "NaN", "codex:1:x", "../../etc", "hk_" + "A" * 40,
            "wa_" + "B" * 43,
        ]
    ),
)  # fmt: skip
extreme_int = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 10**9, 10**9 + 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1]),
)
scalar = st.one_of(st.none(), st.booleans(), extreme_int, st.floats(allow_nan=True), nasty_text)
json_value = st.recursive(
    scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), nasty_text), children, max_size=6),
    ),
    max_leaves=25,
)
deep_json = st.integers(20, 3000).map(lambda n: "[" * n + "]" * n)

# A valid body per route; examples change one to three of its leaves (or add a key) so that
# the junk lands where a valid request would have gone on to the database.
T0 = "2026-11-20T10:00:00.123456789Z"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9wIn0.c2lnbmF0dXJlLWJ5dGVz"
VALID_BODIES: dict[str, list[dict]] = {
    "api/ingest/messages": [
        {
            "machine": "prop-mbp",
            "messages": [
                {
                    "message_id": "msg_template",
                    "model": "claude-sonnet-4-6",
                    "input_tokens": 1,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": 1,
                    "request_id": "req_1",
                    "ts": 1795000000,
                }
            ],
        }
    ],
    "auth": [
        {
            "command": "store",
            "client_version": "0.58.0",
            "wrapper_version": "1",
            "auth": {
                "OPENAI_API_KEY": None,
                "tokens": {"id_token": JWT, "access_token": JWT, "refresh_token": "rt_abcdefghij"},
                "last_refresh": T0,
            },
        },
        {"command": "retrieve", "last_refresh": T0, "digest": "a" * 64, "client_version": "1"},
    ],
    "usage": [
        {"usages": [{"id": "u1", "input": 1, "model": "gpt-5"}, {"line": "Token usage: total=9"}]},
        {"id": "one", "line": "Token usage: total=10 input=5 output=5", "model": "gpt-5"},
    ],
    "slash-commands/retrieve": [{"filename": "review.md", "sha256": None}],
    "slash-commands/store": [
        {"filename": "review.md", "prompt": "---\ndescription: d\n---\nbody", "sha256": None}
    ],
    "admin/hosts/register": [{"fqdn": "prop-2.example.com", "owner": "ops"}],
    "api/admin/tokens": [
        {"user": "u", "scope": "read", "label": "l", "expiresAt": "2030-01-01T00:00:00Z"}
    ],
    "api/admin/embed-origins": [{"origin": "https://board.example.com", "label": "wall"}],
    "admin/api/state": [{"api_disabled": False}],
}


def leaves(value, path=()):
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, (*path, index))
    yield path


def replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@st.composite
def mutated_body(draw, route: str):
    body = draw(st.sampled_from(VALID_BODIES[route]))
    paths = list(leaves(body))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        body = replaced(body, path, draw(st.one_of(poison, poison, extreme_int, json_value)))
        paths = list(leaves(body))
    containers = [path for path in paths if isinstance(_at(body, path), dict)]
    if containers and draw(st.booleans()):
        parent = draw(st.sampled_from(containers))
        body = replaced(body, parent, {**_at(body, parent), draw(nasty_text): draw(scalar)})
    return ("application/json", json.dumps(body).encode())


def _at(value, path):
    for key in path:
        value = value[key]
    return value


def bodies_for(route: str):
    generic = [
        json_value.map(lambda value: ("application/json", json.dumps(value).encode())),
        st.dictionaries(st.sampled_from(FIELD_NAMES), json_value, max_size=8).map(
            lambda value: ("application/json", json.dumps(value).encode())
        ),
        deep_json.map(lambda text: ("application/json", f'{{"messages":{text}}}'.encode())),
        st.tuples(
            st.sampled_from(
                ["application/json", "text/plain", "application/x-www-form-urlencoded"]
            ),
            st.binary(max_size=200),
        ),
        st.none(),
    ]
    if route in VALID_BODIES:
        # Mostly near-valid bodies: they reach the deepest code.
        return mostly(mutated_body(route), st.one_of(*generic))
    return st.one_of(*generic)


def encode(text: str) -> str:
    return quote_from_bytes(text.encode("utf-8", "surrogatepass"), safe="")


path_param = st.one_of(st.from_regex(r"[0-9]{1,25}", fullmatch=True), nasty_text)
# A value each parameter accepts, so that one nasty value among valid ones gets past the checks
# that run first (a junk `from` would answer 400 before a NUL in `user` reached the database).
VALID_QUERY = {
    "from": ["1794000000", "2026-11-01T00:00:00Z"],
    "to": ["1795700000000", "2026-11-21T00:00:00Z"],
    "step": ["3600000", "86400000"],
    "tz": ["Europe/Paris", "UTC"],
    "user": ["alice", "prop-ingest"],
    "machine": ["alice-mbp"],
    "model_family": ["sonnet", "unknown"],
    "by": ["user", "machine", "model_family"],
    "limit": ["5", "100"],
    "since": ["2026-01-01T00:00:00Z", "1767225600"],
    "token": ["we_" + "C" * 43],
    "force": ["1", "0"],
    "include_body": ["1"],
}


# The parameters each route reads; a route not named reads none we know of.
FILTERS = ["from", "to", "user", "machine", "model_family"]
ROUTE_QUERY = {
    "api/usage/totals": FILTERS,
    "api/usage/timeseries": [*FILTERS, "step", "tz"],
    "api/usage/leaderboard": [*FILTERS, "by", "limit"],
    "api/usage/users/<path:name>": FILTERS,
    "api/usage/recent": [*FILTERS, "limit"],
    "api/usage/breakdown": FILTERS,
    "api/usage/breakdown.csv": FILTERS,
    "api/admin/audit": ["since", "limit"],
    "embed/totals": ["token"],
    "embed/stream": ["token"],
    "api/usage/stream": ["token"],
    "admin/chatgpt/usage": ["force"],
    "auth": ["force"],
}


def query_for(route: str):
    names = ROUTE_QUERY.get(route) or sorted(VALID_QUERY)

    @st.composite
    def targeted(draw) -> dict:
        """Valid values for some of the route's parameters, junk (mostly unstorable) in one."""
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=5, unique=True))
        pairs = {name: draw(st.sampled_from(VALID_QUERY[name])) for name in chosen}
        pairs[draw(st.sampled_from(chosen))] = draw(st.one_of(poison, poison, nasty_text))
        return pairs

    clean = st.lists(st.sampled_from(names), max_size=3, unique=True).map(
        lambda chosen: {name: VALID_QUERY[name][0] for name in chosen}
    )
    anything = st.dictionaries(nasty_text, nasty_text, max_size=4)
    # Routes that take a body get a clean query more often, so junk in the body is reached.
    options = (
        [clean, clean, targeted(), anything]
        if route in VALID_BODIES
        else [targeted(), targeted(), targeted(), clean, anything]
    )
    return st.one_of(*options).map(
        lambda pairs: "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs.items())
    )


methods = st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"])
# Each route's own methods first, so most examples reach its view rather than a 405.
ROUTE_METHODS = {
    "api/admin/tokens": ["GET", "POST"],
    "api/admin/tokens/<id:token_id>": ["DELETE"],
    "api/admin/embed-origins": ["GET", "POST"],
    "api/admin/embed-origins/<id:origin_id>": ["DELETE"],
    "api/ingest/messages": ["POST"],
    "auth": ["POST", "POST", "POST", "DELETE"],
    "usage": ["POST"],
    "slash-commands/retrieve": ["POST"],
    "slash-commands/store": ["POST"],
    "admin/hosts/register": ["POST"],
    "admin/api/state": ["GET", "POST"],
    "admin/versions/check": ["POST"],
    "admin/chatgpt/usage/refresh": ["POST"],
}


def mostly(own, other):
    """`own` nine times in ten: most examples should reach the route's deepest code."""
    return st.integers(0, 9).flatmap(lambda roll: own if roll < 9 else other)


def methods_for(route: str):
    return mostly(st.sampled_from(ROUTE_METHODS.get(route, ["GET"])), methods)


credentials = st.sampled_from(["none", "admin", "ingest", "read", "embed", "host", "garbage"])


def credentials_for(route: str):
    """Mostly the credential the route takes; any of them now and then."""
    if route.startswith(("api/admin", "admin/")):
        own = "admin"
    elif route.startswith("api/ingest/"):
        own = "ingest"
    elif route.startswith(("auth", "usage", "wrapper", "slash-commands")):
        own = "host"
    elif route.startswith("embed/"):
        own = "embed"
    else:
        own = "none"
    return mostly(st.just(own), credentials)


def fill(route: str, values: list[str]) -> str:
    parts, index = [], 0
    for piece in route.split("<"):
        if ">" in piece:
            _name, rest = piece.split(">", 1)
            value = encode(values[index % len(values)] or "x")
            index += 1
            parts.append(value + rest)
        else:
            parts.append(piece)
    return "/" + "".join(parts)


@pytest.fixture
def cast(db, settings):
    """Credentials of every kind, limits out of the way (the examples would trip them)."""
    settings.RATE_LIMIT_PER_MINUTE = 10**9
    settings.ANON_RATE_LIMIT_PER_MINUTE = 10**9
    settings.AUTH_FAIL_LIMIT = 10**9
    settings.STREAMS_PER_IP = 10**9
    settings.STREAMS_PER_TOKEN = 10**9
    tokens = {
        scope: token_issue(user=f"prop-{scope}", scope=scope, actor="test")[1]
        for scope in ("admin", "ingest", "read", "embed")
    }
    return tokens


def host_ready() -> None:
    """The host exists, is active and unbound, and the API is on, whatever earlier examples
    did (DELETE /auth deregisters; POST /admin/api/state can switch the API off)."""
    Host.objects.update_or_create(
        api_key_hash=sha256_hex(HOST_KEY),
        defaults={
            "fqdn": "prop-host",
            "owner": "prop",
            "api_key_hint": secret_hint(HOST_KEY),
            "status": HostStatus.ACTIVE,
            "bound_ip": None,
        },
    )
    FleetSetting.objects.filter(key="api_disabled").delete()


def client_with(credential: str, tokens: dict) -> APIClient:
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    if credential == "host":
        client.credentials(HTTP_X_API_KEY=HOST_KEY)
    elif credential == "garbage":
        client.credentials(HTTP_AUTHORIZATION="Bearer wa_" + "Z" * 43)
    elif credential != "none":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[credential]}")
    return client


def check(route: str, path: str, method: str, response, *, count: bool = True) -> None:
    if count:
        EXAMPLES_RUN[route] += 1
    if response.status_code >= 500:
        FIVE_XX[route] += 1
    assert response.status_code < 500, (method, path, response.status_code, response.content[:300])
    if dialect_for_path(path.split("?", 1)[0]) is None:
        return
    if response.status_code < 300 and route in NON_JSON_OK:
        return
    if response.status_code in (204, 304) or method == "HEAD":
        return
    assert response["Content-Type"].startswith("application/json"), (method, path, response)
    json.loads(response.content)


@pytest.mark.parametrize("route", routes())
def test_no_input_makes_a_5xx(cast, route):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        method=methods_for(route),
        credential=credentials_for(route),
        params=st.lists(path_param, min_size=1, max_size=2),
        query=query_for(route),
        body=bodies_for(route),
    )
    def example(method, credential, params, query, body):
        host_ready()
        path = fill(route, params)
        full = f"{path}?{query}" if query else path
        client = client_with(credential, cast)
        kwargs = {}
        if body is not None and method not in ("GET", "HEAD", "OPTIONS"):
            kwargs = {"data": body[1], "content_type": body[0]}
        response = client.generic(method, full, **kwargs)
        check(route, full, method, response)

    example()


# --- mixed batches ---------------------------------------------------------------------------

NOW_TS = 1_795_000_000  # 2026-11-18, inside the accepted window


def valid_message(message_id: str) -> dict:
    return {
        "message_id": message_id,
        "model": "claude-sonnet-4-6",
        "input_tokens": 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 5,
        "output_tokens": 3,
        "ts": NOW_TS,
    }


BAD_CHANGES = [
    {"message_id": "bad\x00id"},
    {"model": "x\ud800"},
    {"request_id": "r\x00"},
    {"input_tokens": -1},
    {"output_tokens": 10**9 + 1},
    {"cache_read_input_tokens": 2**63},
    {"ts": -99999999999},
    {"ts": "9999-12-31T23:59:59Z"},
    {"ts": "0000-01-01T00:00:00Z"},
    {"ts": 1e308},
    {"message_id": None},
    {"model": {"nested": [1]}},
    {"message_id": "codex:1:forged"},
    {"cache_creation_1h_input_tokens": 5},  # more 1 h writes than writes
]


@st.composite
def mixed_batch(draw):
    prefix = uuid.uuid4().hex[:12]
    items, bad = [], []
    for index in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            items.append(valid_message(f"msg_{prefix}_{index}"))
        else:
            bad.append(index)
            choice = draw(st.integers(0, len(BAD_CHANGES)))
            if choice == len(BAD_CHANGES):
                items.append(draw(scalar))  # not even an object
            else:
                items.append({**valid_message(f"msg_{prefix}_{index}"), **BAD_CHANGES[choice]})
    return items, bad


@given(batch=mixed_batch())
@settings(
    max_examples=BATCH_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
def test_a_mixed_ingest_batch_stores_every_valid_message_exactly_once(cast, batch):
    items, bad = batch
    client = client_with("ingest", cast)
    body = json.dumps({"machine": "prop-mbp", "messages": items})
    valid_ids = [item["message_id"] for index, item in enumerate(items) if index not in bad]

    for attempt in range(2):
        response = client.post("/api/ingest/messages", data=body, content_type="application/json")
        check(
            "api/ingest/messages (mixed batch)",
            "/api/ingest/messages",
            "POST",
            response,
            count=attempt == 0,
        )
        data = response.json()
        assert [item["index"] for item in data["rejected"]] == bad
        assert data["applied"] == (len(valid_ids) if attempt == 0 else 0)
        assert data["duplicates"] == (0 if attempt == 0 else len(valid_ids))
    stored = Counter(
        UsageRecord.objects.filter(message_id__in=valid_ids).values_list("message_id", flat=True)
    )
    assert stored == Counter(valid_ids)


@st.composite
def mixed_usage_batch(draw):
    prefix = uuid.uuid4().hex[:12]
    entries, bad = [], []
    for index in range(draw(st.integers(1, 30))):
        entry = {"id": f"{prefix}-{index}", "input": draw(st.integers(0, 10**6))}
        if draw(st.booleans()):
            bad.append(index)
            entry.update(
                draw(
                    st.sampled_from(
                        [
                            {"id": "x\x00"},
                            {"model": "m\ud800"},
                            {"line": "Token usage: total=99999999999999999999"},
                            {"input": -5},
                            {"output": 2**63},
                            {"line": "nothing\x00here", "input": None},
                            {"reasoning": 10, "output": 1},
                        ]
                    )
                )
            )
        entries.append(entry)
    return entries, bad


@given(batch=mixed_usage_batch())
@settings(
    max_examples=BATCH_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
def test_a_mixed_codex_usage_batch_stores_every_valid_entry_exactly_once(cast, batch):
    entries, bad = batch
    host_ready()
    client = client_with("host", cast)
    body = json.dumps({"usages": entries})
    valid = [entry["id"] for index, entry in enumerate(entries) if index not in bad]

    for attempt in range(2):
        response = client.post("/usage", data=body, content_type="application/json")
        check("usage (mixed batch)", "/usage", "POST", response, count=attempt == 0)
        data = response.json()["data"]
        assert [item["index"] for item in data["rejected"]] == bad
        assert data["recorded"] == (len(valid) if attempt == 0 else 0)
    host = Host.objects.get(api_key_hash=sha256_hex(HOST_KEY))
    ids = [f"codex:{host.pk}:{client_id}" for client_id in valid]
    stored = Counter(
        UsageRecord.objects.filter(message_id__in=ids).values_list("message_id", flat=True)
    )
    assert stored == Counter(ids)


def test_every_route_ran_its_examples():
    """Runs after the route tests (pytest keeps file order): each route got its examples and
    none answered a 5xx; prints the count per route for the closing figures."""
    if not EXAMPLES_RUN:
        pytest.skip("run with the route tests (this module as a whole)")
    missing = [route for route in routes() if EXAMPLES_RUN[route] == 0]
    assert not missing
    assert not FIVE_XX
