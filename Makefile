# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BIND ?= 127.0.0.1:8000
WORKERS ?= 1

.PHONY: install run test lint fmt migrate clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

run: install
	@$(PY) -m config.bootstrap
	@set -a; . $${DATA_DIR:-./data}/runtime.env; set +a; \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py collectstatic --noinput -v 0 && \
	exec $(VENV)/bin/gunicorn config.asgi:application -k uvicorn_worker.UvicornWorker \
		--bind $(BIND) --workers $(WORKERS) --access-logfile - --graceful-timeout 5

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) staticfiles
