#!/usr/bin/env bash
# `make fuzz`: coverage-guided fuzzing with libFuzzer (cargo-fuzz) of each target in fuzz/, for
# FUZZ_SECONDS (default 600) each. Needs a nightly toolchain (FUZZ_TOOLCHAIN, default nightly:
# `rustup toolchain install nightly`); installs cargo-fuzz from crates.io when it is missing.
# Inputs that grow coverage go to fuzz/work/<target>/ (git-ignored); a crash is saved by libFuzzer
# in fuzz/artifacts/<target>/ and makes the run exit 1 after every target has run. A fixed crash
# becomes a regression: copy it into fuzz/regressions/<target>/, which `make test` replays on the
# stable toolchain.
# Usage: scripts/fuzz.sh [TARGET...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds="${FUZZ_SECONDS:-600}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
cargo_fuzz_version=0.13.2
all=(model config csv parquet request)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "fuzz: libFuzzer needs a nightly toolchain, and '$toolchain' is not installed:" >&2
  echo "  rustup toolchain install nightly   (or FUZZ_TOOLCHAIN=<an installed nightly>)" >&2
  echo "  the stable mutation fuzzer runs without it: cargo run -p churnguard-fuzz -- all" >&2
  exit 2
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  echo "fuzz: installing cargo-fuzz $cargo_fuzz_version (crates.io)"
  cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
fi

# cargo-fuzz runs the target binaries itself, so cargo's [env] (.cargo/config.toml) is not applied.
export CMAKE="${CMAKE:-$root/.tools/venv/bin/cmake}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.tools/lib/libonnxruntime.so}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

seeds_of() {
  case "$1" in
    config) echo "$root/pipelines" ;;
    *) echo "$root/fuzz/corpus/$1" ;;
  esac
}

cd fuzz
echo "fuzz: building ${targets[*]} with $toolchain (address sanitizer, debug assertions, overflow checks)"
cargo "+$toolchain" fuzz build --debug-assertions
failed=()
for t in "${targets[@]}"; do
  mkdir -p "work/$t"
  echo "fuzz: $t for $seconds s (seeds: $(seeds_of "$t"))"
  if ! cargo "+$toolchain" fuzz run --debug-assertions "$t" "work/$t" "$(seeds_of "$t")" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 \
      >"work/$t.log" 2>&1; then
    failed+=("$t")
    echo "fuzz: $t FOUND A CRASH: see fuzz/work/$t.log and fuzz/artifacts/$t/"
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|Done [0-9]+ runs" "work/$t.log" | sed "s/^/  $t: /" || true
  tail -n 1 "work/$t.log" | sed "s/^/  $t: /"
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${targets[*]}: no crash in $seconds s each"
