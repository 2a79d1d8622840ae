# `make build`: environment, pinned install, compile every rule into output/.
# `make test`: what the tests need (pinned Python packages, the npm Kusto grammar), then the suite.
# `make bench`: translator against sigma-cli on generated libraries (bench/library_scale.py installs
# sigma-cli into bench/.venv-sigma-cli itself); options in BENCH_ARGS, e.g. BENCH_ARGS="--sizes 100".
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KUSTO := tests/kusto

.PHONY: build test check bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A strict editable install: a tree of links laid out as the wheel is (build/__editable__*), so the
# pipelines are the package translator.pipeline_files and pySigma finds the plugins in its namespaces.
# Edits show at once; a new file needs a new install, hence every package file is a prerequisite.
PACKAGE_FILES := $(shell find translator pipelines -name '*.py' -o -name '*.yml' -o -name '*.json')

$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml $(PACKAGE_FILES)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable . \
		--config-settings editable_mode=strict
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed requirements-test.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-test.lock
	touch $@

$(KUSTO)/node_modules/.installed: $(KUSTO)/package.json $(KUSTO)/package-lock.json
	npm ci --prefix $(KUSTO) --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

build: $(VENV)/.installed
	$(BIN)/translator build || test $$? -eq 3  # 3: built, with refusals listed in output/manifest.json

# Fails, listing each artifact, when output/ is not what the rules compile to.
check: $(VENV)/.installed
	$(BIN)/translator build --check

test: $(VENV)/.test-installed $(KUSTO)/node_modules/.installed
	$(BIN)/ruff check translator tests
	$(BIN)/ruff format --check translator tests
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/library_scale.py $(BENCH_ARGS)

# Regenerate the hashed locks after changing a pin in pyproject.toml (needs pip-tools and PyPI).
lock:
	$(BIN)/python -m pip install --quiet pip-tools==7.6.2
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --build-deps-for editable \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --build-deps-for editable \
		--extra test --no-emit-index-url --no-emit-find-links -o requirements-test.lock pyproject.toml

clean:
	rm -rf $(VENV) $(KUSTO)/node_modules .pytest_cache
