# Everything runs from a virtual environment this Makefile creates: no AWS account needed.
# The Lambda runtime's Python (template.yaml: Runtime) when it is installed, else python3.
RUNTIME := $(shell sed -n 's/^ *Runtime: python\(3\.[0-9]*\).*/\1/p' template.yaml | head -1)
# (A pyenv shim answers `command -v` even when that version is not active: run it to know.)
PYTHON  ?= $(or $(shell for p in python$(RUNTIME) $$(pyenv root 2>/dev/null)/versions/$(RUNTIME)*/bin/python$(RUNTIME); \
                  do "$$p" -c "" >/dev/null 2>&1 && { echo "$$p"; break; }; done),python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(RUNTIME)-$(shell cat requirements-dev.txt src/handler/requirements.txt | cksum | cut -d' ' -f1)
SAM_VENV := .venv-sam
# SAM's builder needs the runtime's Python on PATH; with pyenv, make it visible.
SAM_ENV  := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
            $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare | grep -m1 '^$(RUNTIME)' | sed 's/^/PYENV_VERSION=/')
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# The CDK construct library (cdk/) gets a venv of its own, layered over $(VENV): a .pth file
# puts $(VENV)'s packages (pytest, cfn-lint, the stand-ins' dependencies) and cdk/ on its path,
# and only aws-cdk-lib and constructs are installed into it (~35 s, 440 MB, once).
CDK_VENV  := cdk/.venv
CDK_STAMP := $(CDK_VENV)/.installed-$(RUNTIME)-$(shell cat cdk/requirements.txt | cksum | cut -d' ' -f1)
# The independent IAM evaluator of the differential test (tests/test_iam_differential.py): the npm
# package @cloud-copilot/iam-simulate, its version pinned by local/iam-simulate/package-lock.json.
SIMULATE       := local/iam-simulate
SIMULATE_STAMP := $(SIMULATE)/node_modules/.installed-$(shell cat $(SIMULATE)/package-lock.json | cksum | cut -d' ' -f1)
# jsii prints a banner on every start under Node 20 (deprecated, then end of life since 2026-10-30).
CDK_ENV   := JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

.PHONY: help run engine lifecycle rotate-demo drift reference test lint lint-stack bench build stackset deploy package publish invoke-local test-sam-local clean cdk-test cdk-lint cdk-synth cdk-dist

# Every target says what it does on its own line, after "##": `make help` lists them
# (tests/test_docs_commands.py checks that each .PHONY target is there).
help: ## every target, one line each
	@sed -n 's/^\([a-z-]*\):.*## \(.*\)/\1|\2/p' $(MAKEFILE_LIST) | awk -F'|' '{printf "make %-15s %s\n", $$1, $$2}'

# The CDK parts run aws-cdk-lib, whose jsii runtime is Node.js: without it, make stops before
# anything runs or is installed, with one line that says what to install.
NODE_GOALS := test cdk-test cdk-synth lint
ifneq ($(filter $(NODE_GOALS),$(MAKECMDGOALS)),)
ifeq ($(shell node -e 'process.exit(Number(process.versions.node.split(".")[0] < 20))' 2>/dev/null && echo yes),)
$(error Node.js 20 or newer is needed for the CDK parts (aws-cdk-lib runs on Node.js): sudo apt-get install nodejs (Debian, Ubuntu; or NodeSource's nodejs 20), or brew install node (macOS))
endif
endif

$(STAMP): requirements-dev.txt src/handler/requirements.txt
	@echo "installing the tools into $(VENV) with $(PYTHON) ($$($(PYTHON) --version 2>&1); the Lambda runtime is python$(RUNTIME)): about half a minute, once"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP) ## a Delete request end to end (moto + local HTTPS receiver)
	$(BIN)/python -m local.run delete

# The real engine behind the fake: Debian's redis-server, installed with apt when missing.
engine: $(STAMP) ## the real engine behind the fake: redis-server, installed with apt when missing (root)
	@$(BIN)/python -m local.engine ensure >/dev/null

lifecycle: engine ## create, update in place, replace, delete, end to end, on the stateful fake
	$(BIN)/python -m local.run lifecycle

rotate-demo: engine ## three zero-downtime password rotations while a client keeps connecting
	$(BIN)/python -m local.rotate_demo

drift: engine ## three users changed behind the stack's back: the drift report, a repair, the report again
	$(BIN)/python -m local.drift_demo

# The docs' generated tables (lint/reference.py says which, from what) and the JSON Schema;
# a test checks them.
reference: $(STAMP) ## regenerate the docs' generated tables, schema/ and src/handler/runtime/models/
	$(BIN)/python -m lint.reference
	$(BIN)/python -m lint.service_models

# The differential IAM test runs after the rest, on the requests this very run recorded.
test: engine $(CDK_STAMP) $(SIMULATE_STAMP) ## ruff, mypy, cfn-lint, the test suite, the differential IAM test (two evaluators) and the CDK tests (what CI runs)
	$(BIN)/ruff check .
	$(BIN)/mypy src/handler local tests tests_sam_local bench lint cfn_lint_rules
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m pytest -n 4 --ignore=tests/test_iam_differential.py
	IAM_RECORD_REQUIRED=1 $(BIN)/python -m pytest tests/test_iam_differential.py
	$(CDK_PYTEST)

$(SIMULATE_STAMP): $(SIMULATE)/package.json $(SIMULATE)/package-lock.json
	@echo "installing @cloud-copilot/iam-simulate into $(SIMULATE)/node_modules (npm ci, the lockfile's versions): seconds, once"
	cd $(SIMULATE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CDK_STAMP): cdk/requirements.txt | $(STAMP)
	@echo "installing aws-cdk-lib into $(CDK_VENV), layered over $(VENV): about half a minute, once"
	rm -rf $(CDK_VENV)
	$(PYTHON) -m venv $(CDK_VENV)
	printf '%s\n%s\n' "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" "$(abspath cdk)" \
	    > "$$($(CDK_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/project.pth"
	$(CDK_VENV)/bin/python -m pip install -q -r cdk/requirements.txt
	touch $@

# The construct library's tests (cdk/tests: Template assertions, synth-time validation, the
# example app through cfn-lint and the local provider), serially: each test starts no jsii
# process of its own, and one jsii start costs more than the tests gain from workers.
CDK_PYTEST = $(CDK_ENV) $(CDK_VENV)/bin/python -m pytest cdk/tests
cdk-test: $(CDK_STAMP) engine ## the CDK construct library's tests (cdk/tests; part of make test; needs Node.js)
	$(CDK_PYTEST)

cdk-lint: $(CDK_STAMP) ## ruff and mypy strict over the CDK construct library
	$(BIN)/ruff check cdk
	$(CDK_ENV) MYPYPATH=cdk:cdk/tests $(CDK_VENV)/bin/python -m mypy --cache-dir cdk/.mypy_cache cdk/cdk_elasticache_user cdk/tests cdk/example

# Offline: the code asset is staged as src/handler is; BUNDLE=1 also installs its requirements
# into it (pip, as `cdk deploy` does), which needs the package index.
BUNDLE ?=
cdk-synth: $(CDK_STAMP) ## synthesize the CDK example app into cdk/cdk.out, offline, and cfn-lint it (BUNDLE=1: with requirements; needs Node.js)
	rm -rf cdk/cdk.out
	$(CDK_ENV) CDK_OUTDIR=cdk/cdk.out $(if $(BUNDLE),,CDK_CONTEXT_JSON='{"aws:cdk:bundling-stacks":[]}') \
	    $(CDK_VENV)/bin/python cdk/example/app.py
	$(BIN)/cfn-lint cdk/cdk.out/*.template.json --append-rules cfn_lint_rules
	@echo "synthesized: $$(ls cdk/cdk.out/*.template.json)"

# The library's wheel (dist/), carrying template.yaml and src/handler (cdk/pyproject.toml).
cdk-dist: $(CDK_STAMP) ## the CDK construct library's wheel, into dist/
	$(CDK_VENV)/bin/python -m pip wheel ./cdk --no-deps -q -w dist

$(SAM_VENV)/.installed: requirements-sam.txt
	@echo "installing SAM CLI into $(SAM_VENV): about a minute, once"
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q -r requirements-sam.txt
	touch $@

lint: $(STAMP) $(SAM_VENV)/.installed cdk-lint cdk-synth ## cfn-lint, the IAM policy linter, the generated docs, docs/permissions.md, sam validate --lint, cdk-lint, cdk-synth
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m lint.iam_policies template.yaml --synthesized cdk/cdk.out/*.template.json
	$(BIN)/python -m lint.reference --check
	$(BIN)/python -m lint.service_models --check
	$(BIN)/python -m lint.permissions --check
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml

# sam build's Python builder leaves bytecode out (*.pyc, __pycache__) and Lambda's /var/task is
# read-only, so each cold start would compile boto3, botocore and the handler from source: 558 ms
# instead of 210 ms (bench/coldstart.py). Compiled here with the runtime's Python, unchecked-hash:
# a zip keeps no timestamp Python could check a .pyc against. Another Python's would go unused.
BYTECODE = if $(PYTHON) -c 'import sys; sys.exit(f"{sys.version_info[0]}.{sys.version_info[1]}" != "$(RUNTIME)")'; \
	then $(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build/*Function; \
	else echo "no python$(RUNTIME) here: the functions go without bytecode (cold starts 2.7x as long)"; fi
build: $(SAM_VENV)/.installed ## sam build, then the functions compiled to bytecode (needs no Docker)
	$(SAM_ENV) $(SAM_VENV)/bin/sam build --template template.yaml
	@$(BYTECODE)

# For service-managed StackSets and Customizations for Control Tower, which run no transform:
# template.yaml expanded by SAM's translator, the code in a bucket per Region (lint/stackset.py,
# docs/rollout.md). Offline: the code is this venv's pinned requirements, compiled here.
stackset: $(STAMP) ## build/stackset/: template.json without any transform (StackSets, Control Tower) and code.zip, offline (docs/rollout.md)
	$(BIN)/python -m lint.stackset
	$(BIN)/cfn-lint build/stackset/template.json

# Needs an AWS account: the first deploy asks its questions (sam deploy --guided) and
# writes them to samconfig.toml; later ones reuse them.
deploy: build ## sam build + sam deploy (samconfig.toml; GUIDED=1 the first time; needs AWS)
	$(SAM_ENV) $(SAM_VENV)/bin/sam deploy --template-file .aws-sam/build/template.yaml $(if $(GUIDED),--guided,)

# Publishing to the AWS Serverless Application Repository (needs an AWS account and an S3
# bucket SAR may read: PACKAGE_BUCKET=...). The version is pyproject.toml's.
PACKAGE_BUCKET ?=
package: build ## sam package to PACKAGE_BUCKET=... (needs AWS)
	@test -n "$(PACKAGE_BUCKET)" || (echo "set PACKAGE_BUCKET=<bucket>"; exit 2)
	$(SAM_ENV) $(SAM_VENV)/bin/sam package --template-file .aws-sam/build/template.yaml \
	    --s3-bucket $(PACKAGE_BUCKET) --output-template-file .aws-sam/packaged.yaml

publish: package ## publish to the Serverless Application Repository, PACKAGE_BUCKET=... (needs AWS)
	@! grep -q "github.com/OWNER/" template.yaml || (echo "set HomePageUrl and SourceCodeUrl in template.yaml (Metadata) first"; exit 2)
	$(SAM_ENV) $(SAM_VENV)/bin/sam publish --template .aws-sam/packaged.yaml --semantic-version $(VERSION)

# cfn-lint rules for a template that declares Custom::ElastiCacheUser resources.
TEMPLATE ?=
lint-stack: $(STAMP) ## TEMPLATE=your-stack.yaml: cfn-lint your stack with the Custom::ElastiCacheUser rules
	@test -n "$(TEMPLATE)" || (echo "make lint-stack TEMPLATE=your-stack.yaml"; exit 2)
	$(BIN)/cfn-lint $(TEMPLATE) --append-rules cfn_lint_rules

# sam local invoke, for real: a Docker daemon of the project's own (local/docker.sh, stopped
# at the end), the Lambda image built here (local/lambda-image.sh: no image is pulled), an
# x86_64 build (this machine's; arm64 would need emulation), host networking, emulators and
# the HTTPS receiver on 127.0.0.1. Never AWS: the container gets loopback endpoints and
# dummy credentials only.
LOCAL_IMAGE := elasticache-user-resource/lambda-python:$(RUNTIME)
SAM_LOCAL_PREPARE = host=$$(local/docker.sh start); trap 'local/docker.sh stop' EXIT; \
	DOCKER_HOST=$$host local/lambda-image.sh $(LOCAL_IMAGE) $(BIN)/pip; \
	$(SAM_ENV) $(SAM_VENV)/bin/sam build --template template.yaml --parameter-overrides Architecture=x86_64 >/dev/null; \
	$(BYTECODE)
EVENT ?= events/delete.json
invoke-local: $(STAMP) $(SAM_VENV)/.installed ## EVENT=events/delete.json: sam local invoke in a Lambda container (starts its own Docker daemon)
	@set -e; $(SAM_LOCAL_PREPARE); DOCKER_HOST=$$host $(BIN)/python -m local.sam_invoke $(EVENT)

test-sam-local: $(STAMP) $(SAM_VENV)/.installed ## Create, Update, Delete through sam local invoke (Docker daemon of its own)
	@set -e; $(SAM_LOCAL_PREPARE); DOCKER_HOST=$$host timeout 600 $(BIN)/python -m pytest -s tests_sam_local

BENCH_ARGS ?=
bench: engine ## the benchmark tables (bench/; about 24 min; BENCH_ARGS=--long adds a 600 s deletion)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean: ## remove the virtual environments, build outputs and caches
	rm -rf $(VENV) $(SAM_VENV) $(CDK_VENV) cdk/cdk.out build .aws-sam .mypy_cache .ruff_cache .pytest_cache .hypothesis .local-image .iam-record $(SIMULATE)/node_modules
	local/docker.sh stop; rm -rf .local-docker
