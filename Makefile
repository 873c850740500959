# chatapp: `make run` serves the app on the embedded SQLite default, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test bench vendor install install-dev clean

$(VENV)/.runtime: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "chatapp needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-chatkit.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r requirements-chatkit.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# CHATAPP_ENV=development: without SECRET_KEY, a key generated once into instance/secret_key.
run: $(VENV)/.runtime
	CHATAPP_ENV=development $(BIN)/flask --app wsgi db upgrade
	CHATAPP_ENV=development $(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench: $(VENV)/.dev
	$(BIN)/python -m bench.run

# Re-fetch static/vendor/ and tests/vendor/ from the npm registry (pinned versions, see the script).
vendor:
	scripts/vendor.sh

clean:
	rm -rf $(VENV) .pytest_cache
