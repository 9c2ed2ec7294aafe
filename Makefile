# The project's commands. Every target runs the idempotent setup first (quick when done).
CARGO ?= cargo
BIN := target/debug/churnguard

.PHONY: setup build demo test wheel bench fuzz fuzz-stable lint fmt clean-models

setup:
	@./scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets

## The main job on the bundled data.
demo: build
	$(BIN) doctor
	$(BIN) validate pipelines/cdnow.toml
	$(BIN) run pipelines/cdnow.toml

## Every test of the workspace, then the Python package's (its wheel in a fresh environment).
test: setup
	$(CARGO) test --workspace --all-targets
	WHEEL_REUSES_WORKSPACE=1 ./scripts/python-tests.sh

## The Python wheel (optimised, abi3: one wheel for CPython 3.11 and later) in target/wheels.
wheel: setup
	.tools/venv/bin/maturin build --profile wheel --manifest-path crates/python/Cargo.toml --out target/wheels

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
