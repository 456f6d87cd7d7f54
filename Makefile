# Every target creates what it needs: .venv (pinned by requirements-dev.txt) and, for checkov,
# .venv-checkov (requirements-checkov.txt). Only python3 must be on the machine.
PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
INPUT       ?=
SAMPLES     ?=
OUT         ?=
ALLOW_PRIVATE ?=
LOG_LEVEL   ?=
PYTEST_ARGS ?=
# pytest-xdist workers for make test/pytest (0: none). --dist loadfile keeps each test file on one worker,
# so the terraform tier's one moto server and one apply stay together and its tests keep their order.
PYTEST_WORKERS ?= 2
# Folder holding registry.terraform.io/hashicorp/aws/ for the offline terraform tier; empty: discovered
# (tools/offline_terraform.py lists where it looks).
TF_PROVIDER_MIRROR ?=
export TF_PROVIDER_MIRROR

.DEFAULT_GOAL := help
.PHONY: help run test test-replay venvs lint format pytest checkov bench bench-scale docs schema terraform-offline clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	@echo "Creating $(VENV) (once, about a minute): the pinned tools of requirements-dev.txt: moto, boto3, pytest, ruff, python-hcl2, statelint"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@echo "Creating $(CHECKOV_VENV) (once, about a minute): checkov, pinned by requirements-checkov.txt"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

run: $(VENV)/.installed ## Run the pipeline locally (INPUT=file.json, SAMPLES=1 bundled images, OUT=dir, ALLOW_PRIVATE=1, LOG_LEVEL=DEBUG)
	$(PY) -m local_runner $(if $(INPUT),--input $(INPUT)) $(if $(SAMPLES),--samples) $(if $(OUT),--out $(OUT)) $(if $(ALLOW_PRIVATE),--allow-private-addresses) $(if $(LOG_LEVEL),--log-level $(LOG_LEVEL))

# The two virtualenvs are made side by side (about a minute, instead of one and a half), then the steps
# run one after the other.
test: ## Lint, run every test (terraform tier included), run checkov
	@$(MAKE) --no-print-directory -j2 venvs
	@$(MAKE) --no-print-directory lint pytest checkov

venvs: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	@:

lint: $(VENV)/.installed ## ruff format --check and ruff check
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(VENV)/.installed ## Format the Python code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

pytest: $(VENV)/.installed
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The terraform tier's state assertions without terraform: pytest-terraform replays them from
# tests/terraform/complete/tf_resources.json, terraform's folders taken off PATH; the rest skips.
test-replay: $(VENV)/.installed ## The terraform tier's state assertions from its recording, terraform off PATH
	$(PY) -m tests.terraform.support --tf-replay $(PYTEST_ARGS)

# checkov evaluates a module's resources only through the module calls it can resolve, and drops the
# checks whose values it cannot (optional() object defaults): so the repository (root module through
# examples/complete) and then each module on its own, with its own defaults. One make target per
# folder, two at a time, each one's output kept together.
CHECKOV_DIRS := . $(sort $(wildcard modules/*))
CHECKOV_RUNS := $(addprefix checkov@,$(CHECKOV_DIRS))

checkov: $(CHECKOV_VENV)/.installed ## Static security checks of the Terraform code
	@$(MAKE) --no-print-directory -j2 --output-sync=target $(CHECKOV_RUNS)

.PHONY: $(CHECKOV_RUNS)
$(CHECKOV_RUNS): checkov@%:
	@echo "checkov: $*"
	@CKV_SKIP_PACKAGE_UPDATE_CHECK=true CKV_PARSE_ERROR_FAIL=true \
	  $(CHECKOV_VENV)/bin/checkov --framework terraform --skip-download --quiet --compact \
	  --directory $* --skip-path .venv --skip-path .venv-checkov

terraform-offline: $(VENV)/.installed ## Write a CLI config that installs providers offline; prints its path
	@$(PY) -m tools.offline_terraform

bench: $(VENV)/.installed ## Benchmark the download engine (transfer-only and full handler path)
	$(PY) -m bench

bench-scale: $(VENV)/.installed ## Proof at scale: 1,000,000 paths through ValidateAndBatch, 100,000 images through the local pipeline
	PYTHONPATH=lambda_src:. $(PY) -m bench.scale

docs: $(VENV)/.installed ## Regenerate README.md's Inputs/Outputs tables and state machine diagram
	$(PY) tools/tfdocs.py --write
	$(PY) -m tools.mermaid --write

schema: $(VENV)/.installed ## Regenerate tests/data/aws_provider_schema.json from the pinned CDKTF bindings (needs PyPI)
	$(PY) tools/provider_schema.py

clean: ## Remove virtualenvs and caches (keeps the runs in downloads/)
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .hypothesis build
