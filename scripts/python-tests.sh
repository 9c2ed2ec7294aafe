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
log="$root/target/wheel-build-$profile.log"
"$tools/venv/bin/maturin" build --profile "$profile" \
  --manifest-path "$root/crates/python/Cargo.toml" --out "$out" \
  --interpreter "$tools/venv/bin/python" >"$log" 2>&1 || { cat "$log"; exit 1; }
wheel="$(ls "$out"/churnguard-*.whl)"
# Right after `cargo test --workspace` (make test sets WHEEL_REUSES_WORKSPACE=1) only PyO3 (its build reads maturin's environment) and the
# extension itself may compile: anything more means the crate's dependency features drifted
# from the workspace's (see crates/python/Cargo.toml) and CI compiles them, LightGBM's C++
# among them, a second time.
if [ "${WHEEL_REUSES_WORKSPACE:-0}" = 1 ] && [ "$profile" = dev ]; then
  again="$(grep -oE 'Compiling [a-z0-9_-]+' "$log" | awk '{print $2}' | grep -vE '^(pyo3.*|churnguard-python)$' || true)"
  if [ -n "$again" ]; then
    echo "the wheel build compiled again what cargo test --workspace had compiled: $(echo $again)" >&2
    echo "make crates/python/Cargo.toml turn on the features the workspace turns on (cargo tree -e features)" >&2
    exit 1
  fi
fi

rm -rf "$env_dir"
"$tools/venv/bin/python" -m venv "$env_dir"
# The engines' tests run when `scripts/setup.sh --engines` put them in the wheelhouse.
engines=()
estamp="$(ls "$tools"/stamp-engines-* 2>/dev/null | head -1 || true)"
[ -n "$estamp" ] && mapfile -t engines < "$estamp"
"$env_dir/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$tools/wheels" \
  "$wheel" pytest pyarrow pandas polars lightgbm scikit-learn "${engines[@]}"
# The tests train with LightGBM beside the interpreter: keep OpenMP from spinning on a shared machine.
cd "$root"
OMP_WAIT_POLICY=passive CHURNGUARD_ROOT="$root" CHURNGUARD_BIN="$root/target/debug/churnguard" \
  "$env_dir/bin/python" -m pytest -q -p no:cacheprovider tests/python "$@"
