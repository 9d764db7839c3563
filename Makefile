# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_CUSTOMERS ?= 6000
PORT ?= 8000
IDP_PORT ?= 9000
BENCH_CUSTOMERS ?= 1000000

.PHONY: run serve test install dev-install lint format bench demo-reset port-free

# pip prints errors only (-qq): setuptools warns about every editable install, which is the point
# of one here.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -qq -e '.[dev]'
	touch $@

# The test identity provider (npm's oidc-provider, pinned by its lockfile): the tests' OpenID
# provider and the demo's company sign-in. Skipped where Node.js is missing (those tests say so).
IDP := tools/oidc-provider
$(IDP)/node_modules/.installed: $(IDP)/package-lock.json
	@if command -v npm >/dev/null; then cd $(IDP) && npm ci --no-audit --no-fund --silent && touch node_modules/.installed; \
	  else echo "npm is missing: the company sign-in demo and its tests are skipped"; fi

install: $(VENV)/.installed $(IDP)/node_modules/.installed
dev-install: $(VENV)/.dev-installed $(IDP)/node_modules/.installed

# Refuses before anything changes when another server holds the port (a second `make run`).
port-free:
	@$(PYTHON) -c "import socket, sys; s = socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $(PORT))) == 0)" \
	  || { echo "port $(PORT) is in use - is another 'make run' running? Use 'make run PORT=8001'."; exit 1; }

# The task worker runs beside the web server (bulk jobs from the back office, e-mails) and stops
# with it.
# With Node.js, the demo tenant also signs in through the test identity provider (IDP_PORT).
run: port-free $(VENV)/.installed $(IDP)/node_modules/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --customers $(DEMO_CUSTOMERS) --base-url http://127.0.0.1:$(PORT) \
	  $$([ -f $(IDP)/node_modules/.installed ] && echo --identity-provider http://127.0.0.1:$(IDP_PORT))
	if [ -f $(IDP)/node_modules/.installed ]; then node $(IDP)/server.mjs .demo-identity-provider.json & fi; idp=$$!; \
	BACK_OFFICE_URL=$${BACK_OFFICE_URL:-http://127.0.0.1:$(PORT)} $(PY) manage.py db_worker --no-reload & worker=$$!; \
	trap 'kill $$worker $$idp 2>/dev/null' EXIT INT TERM; \
	BACK_OFFICE_URL=$${BACK_OFFICE_URL:-http://127.0.0.1:$(PORT)} $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The demo as new: its customers seeded again (logins and API secrets stay as they are).
demo-reset: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --reset --customers $(DEMO_CUSTOMERS) --base-url http://127.0.0.1:$(PORT)

# Production form: DEBUG off, gunicorn (config/gunicorn.py), static files by WhiteNoise, a task
# worker beside it; against whatever DATABASE_URL says. SECRET_KEY and JWT_SIGNING_KEY must be
# set (the settings refuse to start with the development ones); see README "Production". Behind
# PgBouncer in transaction mode (DATABASE_POOL_MODE=transaction), DATABASE_DIRECT_URL, when set,
# connects the worker to PostgreSQL itself (optional: docs/scaling.md). The read-access log
# writes through its journal in var/read-log-journal unless READ_LOG_JOURNAL says otherwise (set
# empty: each read writes its lines into the database); files left by a crash are shipped first.
serve: $(VENV)/.installed
	DEBUG=0 $(PY) manage.py migrate --noinput
	DEBUG=0 $(PY) manage.py collectstatic --noinput --verbosity 0
	export READ_LOG_JOURNAL="$${READ_LOG_JOURNAL-$(CURDIR)/var/read-log-journal}"; \
	if [ -n "$$READ_LOG_JOURNAL" ]; then DEBUG=0 $(PY) manage.py ship_read_log; fi; \
	(if [ -n "$$DATABASE_DIRECT_URL" ]; then export DATABASE_URL="$$DATABASE_DIRECT_URL" DATABASE_POOL_MODE=; fi; \
	  DEBUG=0 exec $(PY) manage.py db_worker) & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	DEBUG=0 $(VENV)/bin/gunicorn -c config/gunicorn.py config.wsgi

test: $(VENV)/.dev-installed
	$(PY) -m pytest

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/scoping_lint.py
	$(VENV)/bin/lint-imports --no-cache

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.dev-installed
	$(PY) bench/bulk_assign.py --customers $(BENCH_CUSTOMERS) --write-docs
