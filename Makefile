# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BIND ?= 127.0.0.1:8000
WORKERS ?= 1
# make run-production: gunicorn's private address behind Pushpin, and threads per worker.
APP_BIND ?= 127.0.0.1:8001
THREADS ?= 8

.PHONY: install run run-production test lint fmt migrate clean openapi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

# Secrets not in the environment are generated once into DATA_DIR (and reused); settings read
# them from there, so later `manage.py` commands work too. config/gunicorn.conf.py: ASGI worker.
# The runner (periodic work) starts beside the server in the same process group: Ctrl-C or a
# signal to the group stops both, and it exits by itself once the server (its parent after the
# `exec`) is gone.
# The URL hosts reach this server by (installer links, baked cdx wrappers): from BIND unless
# PUBLIC_BASE_URL is set (config/bootstrap.py public_url_for_bind).
run: export PUBLIC_BASE_URL ?= $(shell test -x $(PY) && $(PY) -m config.bootstrap --public-url '$(BIND)')
run: install
	@$(PY) -m config.bootstrap
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py runner --parent-pid $$$$ & \
	exec $(VENV)/bin/gunicorn -c config/gunicorn.conf.py --bind $(BIND) --workers $(WORKERS)

# What deploy/ runs, on loopback: Pushpin on BIND holds every SSE stream (its config generated
# by config/pushpin.py from GRIP_URL, or from a key kept in DATA_DIR) and forwards everything
# else to gunicorn's threaded WSGI worker on APP_BIND; the runner beside them. All three stop
# together, as in `make run`. WORKERS > 1 needs REDIS_URL. Client addresses come from Pushpin's
# X-Forwarded-For only with TRUSTED_PROXIES=127.0.0.1/32 (then every header a client sends through
# Pushpin is believed, the mTLS one included: deploy/ has nginx in front, which sets it).
run-production: install
	@command -v pushpin >/dev/null 2>&1 || { echo "make run-production needs Pushpin: apt-get install pushpin (Debian's package). make run needs no other service."; exit 1; }
	@$(PY) -m config.bootstrap
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	@GRIP_URL="$$($(PY) -m config.pushpin url)" || exit 1; export GRIP_URL; \
	$(PY) -m config.pushpin run --bind $(BIND) --origin $(APP_BIND) --parent-pid $$$$ & \
	$(PY) manage.py runner --parent-pid $$$$ & \
	exec $(VENV)/bin/gunicorn -c config/gunicorn.conf.py --worker-class gthread \
		--threads $(THREADS) --bind $(APP_BIND) --workers $(WORKERS) config.wsgi:application

# mypy's Django plugin loads config.settings: placeholders for the secrets it requires, and an
# in-memory database so linting touches no data directory.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	SECRET_KEY=lint-only FIELD_ENCRYPTION_KEY=lint-only DATABASE_URL=sqlite://:memory: \
		$(VENV)/bin/mypy .

# docs/openapi.yaml: the OpenAPI description, regenerated from the code (core/openapi.py);
# tests/production/test_openapi.py fails while the committed file differs from the code.
openapi: install
	SECRET_KEY=openapi-only FIELD_ENCRYPTION_KEY=bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s= \
		DATABASE_URL=sqlite://:memory: PUBLIC_BASE_URL=http://127.0.0.1:8000 \
		$(PY) manage.py spectacular --file docs/openapi.yaml --validate --fail-on-warn

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) staticfiles
