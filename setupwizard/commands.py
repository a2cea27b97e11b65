"""The commands the wizard shows for each machine. Plain text, built in one place; secrets that
are no longer shown appear as placeholders."""

from __future__ import annotations

import shlex

from django.conf import settings

INGEST_PLACEHOLDER = "<ingest token>"
EMBED_PLACEHOLDER = "<embed token>"


def base_url() -> str:
    return str(settings.PUBLIC_BASE_URL).rstrip("/")


def collector_commands(*, ingest_token: str | None = None) -> str:
    """Install and schedule `tokenfleet-collect` with an ingest token (Linux or macOS with
    python3 >= 3.9); the machine name is the host's own."""
    url = base_url()
    token = ingest_token or INGEST_PLACEHOLDER
    q_url, q_token = shlex.quote(url), shlex.quote(token)
    return "\n".join(
        [
            "mkdir -p ~/.config/tokenfleet ~/.local/bin && chmod 700 ~/.config/tokenfleet",
            f"(umask 077; printf 'TOKENFLEET_URL=%s\\nTOKENFLEET_HOST_KEY=%s\\n"
            f'TOKENFLEET_FQDN=%s\\n\' {q_url} {q_token} "$(hostname)" '
            "> ~/.config/tokenfleet/host.env)",
            f"curl -fsSL -H {shlex.quote('Authorization: Bearer ' + token)} "
            f"{shlex.quote(url + '/api/ingest/collector')} -o ~/.local/bin/tokenfleet-collect "
            "&& chmod 755 ~/.local/bin/tokenfleet-collect",
            "~/.local/bin/tokenfleet-collect --once",
            '(crontab -l 2>/dev/null; echo "*/10 * * * * $HOME/.local/bin/tokenfleet-collect '
            '--once") | crontab -',
        ]
    )


def embed_snippet(*, embed_token: str | None = None) -> str:
    token = embed_token or EMBED_PLACEHOLDER
    stream = f"{base_url()}/embed/stream?token={token}"
    return "\n".join(
        [
            "<script>",
            f'  const usage = new EventSource("{stream}");',
            '  usage.addEventListener("totals", (event) => {',
            "    const { totals } = JSON.parse(event.data);",
            '    const cost = "$" + totals.costUsd.toFixed(2);',
            '    document.querySelector("#ai-spend").textContent = cost;',
            "  });",
            "</script>",
        ]
    )


INFRA_NOTES = {
    "single-node": [
        "`make run` serves on $BIND with one worker; set PUBLIC_BASE_URL to the address "
        "machines use.",
        "More than one worker (WORKERS) needs REDIS_URL.",
    ],
    "docker-compose": [
        "Give the container PUBLIC_BASE_URL, DATABASE_URL (PostgreSQL), REDIS_URL, and "
        "SECRET_KEY_FILE / FIELD_ENCRYPTION_KEY_FILE from secrets.",
        "Run management commands inside it: docker compose exec <service> python manage.py …",
    ],
    "kubernetes": [
        "Every replica needs the same DATABASE_URL (PostgreSQL), REDIS_URL and secrets "
        "(…_FILE from a Secret).",
        "Terminate TLS at the ingress; list its addresses in TRUSTED_PROXIES so client IPs "
        "are right.",
    ],
    "headless": [
        "Set HEADLESS=true and restart: the dashboard and this wizard then answer 404; only the "
        "API is served.",
        "Issue admin tokens with `manage.py issue_token --scope admin` and use the JSON API.",
    ],
}
