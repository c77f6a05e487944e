# The few commands people type. Each installs what it needs into .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
TOOLS := .venv-tools
export SAM_CLI_TELEMETRY := 0
TOOLS_INSTALLED := $(TOOLS)/.installed
CHECKOV := .venv-checkov
CHECKOV_INSTALLED := $(CHECKOV)/.installed
REQUIREMENTS := spark/requirements.txt spark/requirements-model.txt requirements/local.txt requirements/dev.txt \
	requirements/translator.txt lambdas/shared/requirements.txt lambdas/check_outputs/requirements.txt lambdas/publish_artifacts/requirements.txt \
	cli/requirements.txt

# `make run`: the feature job alone, in local Spark, on a generated sample (MINI);
# `make run INPUT=... OUTPUT=...`: on a folder, S3 prefix or manifest of your own.
INPUT ?=
OUTPUT ?= build/run/output
ARGS ?=
BENCH_ARGS ?= --images 4000 12000
BENCH_S3_ARGS ?= --images 2000
BENCH_REUSE_ARGS ?= --images 4000

.PHONY: demo test test-fast lint typecheck validate bench bench-s3 bench-reuse run java constraints prices clean

# The whole workflow on this machine: the real state machine in moto, the real job in local Spark.
demo: java $(INSTALLED)
	$(PY) -m orchard_local.workflow_demo --manifest manifests/mini.json --work-dir build/demo

test: java $(INSTALLED)
	$(PY) -m pytest

# The developer loop: every test but those that start Spark, build the model or run the workflow, on every core.
test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not spark and not model and not workflow" -n auto --dist worksteal

lint: $(INSTALLED) $(CHECKOV_INSTALLED)
	$(VENV)/bin/ruff check spark lambdas cli local tests benchmarks
	cd lambdas && ../$(VENV)/bin/lint-imports --config ../pyproject.toml --no-cache --no-logo  # from lambdas/: its handlers
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) -m orchard_local.lint_iam
	$(CHECKOV)/bin/checkov --config-file .checkov.yaml --file template.yaml --framework cloudformation --compact --quiet --skip-download

# mypy with the boto3 stubs over spark/, lambdas/, cli/ and local/ (pyproject.toml's [tool.mypy]).
typecheck: $(INSTALLED)
	$(VENV)/bin/mypy

# The AWS application as SAM sees it, offline: the template validated and linted, every function built.
validate: $(TOOLS_INSTALLED)
	$(TOOLS)/bin/sam validate --lint --region eu-west-1
	$(TOOLS)/bin/sam build
	$(TOOLS)/bin/python local/orchard_local/lambda_sizes.py .aws-sam/build

bench: java $(INSTALLED)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

# The whole job reading from S3 at 0 and at 100 ms per request: moto's S3 on the loopback, offline.
bench-s3: java $(INSTALLED)
	$(PY) benchmarks/bench_s3.py $(BENCH_S3_ARGS)

# Re-runs with the feature store: the same images twice, then with 10 % new ones; the store's index at 1M images.
bench-reuse: java $(INSTALLED)
	$(PY) benchmarks/bench_reuse.py $(BENCH_REUSE_ARGS)

run: java $(INSTALLED)
ifeq ($(INPUT),)
	$(PY) -m orchard_local.job_demo --manifest manifests/mini.json --work-dir build/run
else
	$(PY) -m orchard_features $(INPUT) --output $(OUTPUT) $(ARGS)
endif

java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "Java 17 is needed to run Spark and was not found."; \
	  echo "  Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless"; \
	  echo "  macOS:         brew install openjdk@17"; \
	  echo "  Amazon Linux:  sudo dnf install java-17-amazon-corretto-headless"; \
	  exit 1; }
	@java -version 2>&1 | grep -q 'version "17' || { \
	  echo "Java 17 is needed (Spark 3.5 as on EMR 7); found: $$(java -version 2>&1 | head -n 1)"; exit 1; }

$(INSTALLED): pyproject.toml requirements/constraints.txt $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is needed (as on EMR 7 nodes); found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[local,model,aws,dev,cli]'
	$(PY) -m pip install --quiet --no-deps -r requirements/translator.txt
	touch $(INSTALLED)

$(TOOLS_INSTALLED): requirements/tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements/tools.txt
	touch $(TOOLS_INSTALLED)

$(CHECKOV_INSTALLED): requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV)/bin/python -m pip install --quiet -r requirements/checkov.txt
	touch $(CHECKOV_INSTALLED)

# Regenerate the pins of every package the requirement files bring in, as pip resolves them today, from a fresh
# environment (the SAM translator, installed without its dependencies, keeps its own pin in translator.txt).
CONSTRAINTS ?= requirements/constraints.txt
constraints:
	rm -rf build/constraints-venv
	$(PYTHON) -m venv build/constraints-venv
	build/constraints-venv/bin/python -m pip install --quiet --upgrade pip
	build/constraints-venv/bin/python -m pip install --quiet -e '.[local,model,aws,dev,cli]'
	build/constraints-venv/bin/python -m pip freeze --exclude-editable | LC_ALL=C sort --ignore-case > $(CONSTRAINTS)
	rm -rf build/constraints-venv

# The functions' price table of a region (lambdas/orchard_functions/prices/<region>.json), fetched from the AWS Price
# List API: needs AWS credentials allowed pricing:GetProducts. `make prices PRICES_REGION=us-east-1` for another region.
PRICES_REGION ?= eu-west-1
prices: $(INSTALLED)
	$(PY) -m orchard_local.prices --region $(PRICES_REGION)

clean:
	rm -rf build .pytest_cache .aws-sam
