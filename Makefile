# The project's commands. Every target runs the idempotent setup first (quick when done).
CARGO ?= cargo
BIN := target/debug/churnguard

.PHONY: setup build demo test bench fuzz fuzz-stable lint fmt clean-models

setup:
	@./scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets

## The main job on the bundled data.
demo: build
	$(BIN) doctor
	$(BIN) validate pipelines/cdnow.toml
	$(BIN) run pipelines/cdnow.toml

## Every test of the workspace.
test: setup
	$(CARGO) test --workspace --all-targets

## Speed figures against the Python reference, measured side by side.
bench: setup
	@./scripts/setup.sh --bench
	@./bench/run.sh

## Coverage-guided fuzzing (libFuzzer, cargo-fuzz, nightly toolchain) of the parsers, FUZZ_SECONDS
## (default 600) per target; crashes go to fuzz/artifacts/. fuzz-stable: the stable mutation fuzzer.
FUZZ_SECONDS ?= 600
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

fuzz-stable: setup
	$(CARGO) run -q -p churnguard-fuzz -- all --seconds $(FUZZ_SECONDS)

## Formatting and clippy, warnings as errors.
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
