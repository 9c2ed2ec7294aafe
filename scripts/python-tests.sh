#!/usr/bin/env bash
# The Python package's tests: builds the wheel (PROFILE, default the quick `dev` build that
# `cargo test` already compiled), installs it into a fresh virtual environment with the test
# packages from .tools/wheels (offline), and runs pytest on tests/python with that interpreter.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
profile="${PROFILE:-dev}"
out="$root/target/wheels-$profile"
env_dir="$root/target/python-test-env"

rm -rf "$out"
"$tools/venv/bin/maturin" build --quiet --profile "$profile" \
  --manifest-path "$root/crates/python/Cargo.toml" --out "$out" \
  --interpreter "$tools/venv/bin/python"
wheel="$(ls "$out"/churnguard-*.whl)"

rm -rf "$env_dir"
"$tools/venv/bin/python" -m venv "$env_dir"
"$env_dir/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$tools/wheels" \
  "$wheel" pytest pyarrow pandas polars lightgbm scikit-learn
# The tests train with LightGBM beside the interpreter: keep OpenMP from spinning on a shared machine.
cd "$root"
OMP_WAIT_POLICY=passive CHURNGUARD_ROOT="$root" CHURNGUARD_BIN="$root/target/debug/churnguard" \
  "$env_dir/bin/python" -m pytest -q -p no:cacheprovider tests/python "$@"
