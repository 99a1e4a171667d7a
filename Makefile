# newsqa: `make run` sets everything up and serves the default article; `make test` sets up and runs every check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install browser proxy redis run index test lint typecheck pytest audit lock lexicon eval train bench load image docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of torch first (a wheel on this machine's disk), so nothing pulls the CUDA build
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[build,dev,milvus]"
	touch $(STAMP)

install: $(STAMP)

# the web page's tests drive Debian's chromium through Playwright (no browser download)
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }
	@test -x $(CHROMIUM) || { echo "chromium is needed at $(CHROMIUM) for the browser tests"; exit 1; }

# the front-proxy tests run Debian's nginx in front of the service (docs/deploy/nginx-newsqa.conf)
NGINX ?= /usr/sbin/nginx
proxy:
	@test -x $(NGINX) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends nginx; }
	@test -x $(NGINX) || { echo "nginx is needed at $(NGINX) for the front-proxy tests"; exit 1; }

# the shared-state tests run Debian's redis-server on a free loopback port (tests/test_shared_state.py)
REDIS_SERVER ?= /usr/bin/redis-server
redis:
	@test -x $(REDIS_SERVER) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends redis-server; }
	@test -x $(REDIS_SERVER) || { echo "redis-server is needed at $(REDIS_SERVER) for the shared-state tests"; exit 1; }

index: $(STAMP)
	$(BIN)/newsqa index

# where it listens: NEWSQA_HOST / NEWSQA_PORT (environment or `make run NEWSQA_PORT=8080`), default 127.0.0.1:8000
run: $(STAMP)
	$(BIN)/newsqa serve

lint: $(STAMP)
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browser proxy redis
	$(BIN)/pytest

# known vulnerabilities in the exact versions installed (see SECURITY.md for what this can and cannot tell)
audit: $(STAMP)
	$(BIN)/pip-audit --requirement requirements.lock --no-deps --disable-pip --progress-spinner off \
		--format json --output - 2>/dev/null | $(BIN)/python .ci/audit_check.py

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^newsqa' > requirements.lock

test: lint typecheck pytest

# rewrite the word lists' hashes (app/text/data/lexicon.npz) from the pinned packages; tests/test_lexicon.py checks them
lexicon: $(STAMP)
	$(BIN)/python -m benchmarks.build_lexicon

eval: $(STAMP)
	$(BIN)/newsqa eval tests/data/gold.jsonl

# refit the quote ranker and the abstention model, then the rival-version model that answers with them
# (grouped cross-validation; writes app/weights/*.json and the reports beside the scripts)
train: $(STAMP)
	$(BIN)/python -m benchmarks.train --write --report benchmarks/train_report.md
	$(BIN)/python -m benchmarks.train_versions --write --report benchmarks/versions_report.md

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_ask
	$(BIN)/python -m benchmarks.bench_slack
	$(BIN)/python -m benchmarks.bench_scale

# the generated parts of docs/: the CLI reference and the settings table (tests/test_docs.py checks them)
docs: $(STAMP)
	$(BIN)/python -m tests.docs_reference --write

load: $(STAMP)
	$(BIN)/python -m benchmarks.load

# the service image (Dockerfile; two stages, no torch in the one that ships). Podman needs --format docker to
# keep the HEALTHCHECK. Not part of `make test`: building needs a registry for the base image.
CONTAINER ?= $(shell command -v podman || command -v docker)
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
EXTRAS ?=
image:
	@test -n "$(CONTAINER)" || { echo "make image needs podman or docker"; exit 1; }
	$(CONTAINER) build $(if $(findstring podman,$(CONTAINER)),--format docker) \
		--build-arg TORCH_INDEX_URL=$(TORCH_INDEX_URL) --build-arg EXTRAS=$(EXTRAS) -t newsqa .

clean:
	rm -rf $(VENV) index/build-* index/.staging-* index/manifest.json index/.write.lock test-artifacts
