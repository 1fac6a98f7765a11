# Locker: `make run` starts the whole product, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format install migrate bench clean messages

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

# The tests' JavaScript packages (tus-js-client, axe-core), pinned in tests/tus/js/package-lock.json;
# skipped where there is no npm (a server only running Locker needs none of them).
JS_STAMP := tests/tus/js/node_modules/.package-lock.json

$(JS_STAMP): tests/tus/js/package-lock.json
	@if command -v npm >/dev/null; then cd tests/tus/js && npm ci --no-audit --no-fund; \
	else echo "npm not found: the tus client and accessibility (axe-core) tests need it"; fi

# The OpenID provider tests/oidc logs in with (oidc-provider, run by Node), pinned in its own
# tests/oidc/provider/package-lock.json.
OIDC_STAMP := tests/oidc/provider/node_modules/.package-lock.json

$(OIDC_STAMP): tests/oidc/provider/package-lock.json
	@if command -v npm >/dev/null; then cd tests/oidc/provider && npm ci --no-audit --no-fund; \
	else echo "npm not found: the single sign-on tests (tests/oidc) need it"; fi

install: $(STAMP) $(JS_STAMP) $(OIDC_STAMP)

# The translation catalogues (locale/): extract every string of the code into each language's
# .po (needs GNU gettext), then compile the .mo files, which are committed (so running Locker
# needs no gettext). Translate the new entries of the .po files in between, and run it again.
MESSAGE_IGNORES := --ignore=.venv --ignore=node_modules --ignore=tests --ignore=bench --ignore=docs --ignore=data
messages: install
	$(BIN)/python manage.py makemessages --all --no-obsolete --add-location=file $(MESSAGE_IGNORES)
	$(BIN)/python -c "import glob, polib; [polib.pofile(p).save_as_mofile(p[:-3] + '.mo') for p in glob.glob('locale/*/LC_MESSAGES/*.po')]"

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable

# The port is checked first, so a port in use stops `make run` before it migrates anything;
# locker.run creates the first administrator and prints its password after the start-up logs.
run: install
	$(BIN)/python -m locker.run --check
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python -m locker.run

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/transfer.py

clean:
	rm -rf $(VENV) data
