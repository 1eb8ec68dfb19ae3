# Everything runs from a virtual environment this Makefile creates: no AWS account needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt src/handler/requirements.txt | cksum | cut -d' ' -f1)
SAM_VENV := .venv-sam
# SAM's builder needs the runtime's python3.12 on PATH; with pyenv, make it visible.
SAM_ENV  := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
            $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare | grep -m1 '^3\.12' | sed 's/^/PYENV_VERSION=/')

.PHONY: help run lifecycle test lint typecheck bench build invoke-local clean

help:
	@echo "make run        - a Delete request end to end (moto + local HTTPS receiver)"
	@echo "make lifecycle  - create, update in place, replace, delete, end to end"
	@echo "make test       - ruff, mypy, cfn-lint and the test suite (what CI runs)"
	@echo "make lint       - cfn-lint, the IAM policy linter (parliament) and sam validate --lint"
	@echo "make bench      - the benchmark tables (bench/; BENCH_ARGS=--long adds a 600 s deletion)"
	@echo "make build      - sam build (needs no Docker)"
	@echo "make invoke-local EVENT=events/delete.json - sam local invoke (needs Docker)"

$(STAMP): requirements-dev.txt src/handler/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/python -m local.run delete

lifecycle: $(STAMP)
	$(BIN)/python -m local.run lifecycle

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy src/handler local tests bench lint
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m pytest -n 4

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q -r requirements-sam.txt
	touch $@

lint: $(STAMP) $(SAM_VENV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m lint.iam_policies template.yaml
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml

build: $(SAM_VENV)/.installed
	$(SAM_ENV) $(SAM_VENV)/bin/sam build --template template.yaml

EVENT ?= events/delete.json
invoke-local: build
	$(SAM_ENV) $(SAM_VENV)/bin/sam local invoke ElastiCacheUserFunction --event $(EVENT)

BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache .hypothesis
