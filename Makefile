# pb — two commands: `make demo` (install + serve the demo) and `make test` (the whole suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# First of python3.13 / python3.12 / python3 that is >= 3.12.
SYSTEM_PYTHON := $(shell for p in python3.13 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then \
	echo $$p; break; fi; done)

.PHONY: install demo serve test test-fast lint format e2e messages translations clean

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(SYSTEM_PYTHON)" ]; then \
		echo "pb needs Python 3.12 or newer: none of python3.13, python3.12, python3 is >= 3.12." >&2; \
		echo "Install Python 3.12+ (or, with pyenv, run from this folder: .python-version names 3.13)." >&2; \
		exit 1; fi
	@[ -x $(PY) ] || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

# Bytecode for the project's own packages, as an installed package ships it: an editable install has none, and
# with PYTHONDONTWRITEBYTECODE set Python would compile them again at every start (~35 ms of CPU for
# `python -m tally run`, a sixth of an MES count of Warsaw 2026). compileall writes the .pyc files whatever
# that variable says, skips those already up to date, and Python reads them (a stale one is ignored).
install: $(VENV)/.installed
	@$(PY) -m compileall -q -j 0 ballots pb proposals tally >/dev/null

# Compiled catalogues (locale/*/LC_MESSAGES/django.mo) are committed, so a machine without GNU gettext still
# shows Vietnamese and Chinese; where msgfmt exists they are recompiled from the .po files.
translations:
	@if command -v msgfmt >/dev/null 2>&1; then $(PY) manage.py compilemessages --ignore=.venv >/dev/null; \
	else echo "msgfmt (GNU gettext) not found: using the committed compiled translations"; fi

demo: install
	$(PY) manage.py migrate --noinput
	@$(MAKE) --no-print-directory translations
	$(PY) manage.py demo_load
	@# The task worker (counts, roll imports) runs beside the web server; Ctrl-C or the server's exit stops both.
	$(PY) manage.py task_worker --queue-name=default,public & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	$(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@$(MAKE) --no-print-directory translations
	$(PY) manage.py makemigrations --check --dry-run >/dev/null
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

messages: install
	$(PY) manage.py makemessages -l vi -l zh_Hans --ignore=.venv --ignore=tests --ignore=bench
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
