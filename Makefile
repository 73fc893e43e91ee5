# Two commands a newcomer needs: `make demo` and `make test`. Both bootstrap .venv from this
# project's own files, so a fresh clone needs nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SHELL_SCRIPTS := sam-package.sh sam-deploy.sh sam-delete.sh $(wildcard .ci/run scripts/*.sh)

.PHONY: bootstrap test lint typecheck check-template check-scripts pytest demo bench clean

bootstrap: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed (found %s): set PYTHON=python3.11" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: bootstrap
	$(BIN)/mypy pclab functions

check-template: bootstrap
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint --template-file template.yaml --region us-east-1
	$(BIN)/statelint statemachine/*.asl.json

check-scripts: bootstrap
	$(BIN)/shellcheck $(SHELL_SCRIPTS)

# Two workers: the tests that start processes or time things one after another on one, the pure
# ones beside them on the other (tests/conftest.py says which and why).
pytest: bootstrap
	$(BIN)/pytest -n 2 --dist loadgroup

test: lint typecheck check-template check-scripts pytest

demo: bootstrap
	$(BIN)/pclab demo

bench: bootstrap
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .aws-sam build .pytest_cache .mypy_cache .ruff_cache
