"""Test-run defaults: the suite runs with DEBUG off, so it brings its own throwaway secrets."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s=")
# The zero-setup URL, said explicitly (with DEBUG off an unset one is warned about, accounts.W006).
os.environ.setdefault("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# The runner refreshes the shared login when it is due; no test (nor a server or runner a test
# starts, which inherit this environment) may ever spend a token at OpenAI's real endpoint.
os.environ.setdefault("CODEX_OAUTH_TOKEN_URL", "http://127.0.0.1:9/oauth/token")
