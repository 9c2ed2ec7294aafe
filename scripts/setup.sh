#!/usr/bin/env bash
# One idempotent setup for building, testing and running churnguard on a fresh Debian machine.
#
# Installs, only when missing:
#   - clang and libclang-dev (Debian packages; bindgen in lightgbm3-sys needs libclang),
#   - chromium (Debian package; the tests open every report.html in it, headless),
#   - CMake >= 3.28 (LightGBM 4.7 needs it; Debian 12 ships 3.25) from PyPI,
#   - the ONNX Runtime shared library, taken from the PyPI `onnxruntime` wheel,
#   - maturin (PyPI), which builds the Python wheel, and a wheelhouse (.tools/wheels) of what
#     the Python tests install into a fresh virtual environment beside the wheel,
# into .tools/ (git-ignored). .cargo/config.toml points cargo at them, so plain
# `cargo build` / `cargo test` work afterwards. `--bench` also installs the Python
# reference stack used by `make bench`; `--engines` a Java runtime (Debian's) and PySpark and
# Dask (PyPI, into the wheelhouse), whose tests `make test` then runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"

CMAKE_VERSION="3.31.10"
ORT_VERSION="1.32.0"
# The Python reference stack that `make bench` compares against.
BENCH_PACKAGES=(pandas==3.1.1 polars==2.1.0 pyarrow==26.0.1 lightgbm==4.7.0 scikit-learn==1.9.1 scipy==1.17.1 onnxmltools==1.16.0 onnx==1.23.2 fastapi==0.165.0 uvicorn==0.54.0)

# The Python package: maturin builds its wheel; the tests install it with these, offline, from
# .tools/wheels into a fresh virtual environment.
MATURIN_VERSION="1.16.0"
PYTEST_PACKAGES=(pytest==9.2.0 pyarrow==26.0.1 pandas==3.1.1 polars==2.1.0 lightgbm==4.7.0 scikit-learn==1.9.1 "onnxruntime==$ORT_VERSION")

# The engines churnguard runs on beyond one machine (`--engines`); PySpark needs Java.
ENGINE_PACKAGES=(pyspark==4.3.0 "dask[dataframe]==2026.11.0" distributed==2026.11.0)

stamp="$tools/stamp-cmake-$CMAKE_VERSION-ort-$ORT_VERSION"
bench=0
engines=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    --engines) engines=1 ;;
    *) echo "setup.sh: unknown option '$arg' (known: --bench, --engines)" >&2; exit 2 ;;
  esac
done

say() { printf 'setup: %s\n' "$*" >&2; }

have_debs() { dpkg -s "$@" >/dev/null 2>&1; }

install_debs() {
  local missing=()
  for p in "$@"; do have_debs "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      say "need root (or sudo) to install: ${missing[*]}"; exit 1
    fi
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_debs clang libclang-dev chromium

if [ ! -f "$stamp" ] || [ ! -x "$venv/bin/cmake" ] || [ ! -e "$tools/lib/libonnxruntime.so" ]; then
  mkdir -p "$tools/lib"
  if [ ! -x "$venv/bin/python" ]; then
    say "creating Python environment in .tools/venv"
    python3 -m venv "$venv"
  fi
  say "installing cmake==$CMAKE_VERSION and onnxruntime==$ORT_VERSION (PyPI)"
  "$venv/bin/pip" install -q --disable-pip-version-check "cmake==$CMAKE_VERSION" "onnxruntime==$ORT_VERSION"
  lib="$("$venv/bin/python" - <<'PY'
import glob, os, onnxruntime
libs = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))
print(libs[-1] if libs else "")
PY
)"
  if [ -z "$lib" ]; then say "the onnxruntime wheel holds no libonnxruntime.so"; exit 1; fi
  ln -sf "$lib" "$tools/lib/libonnxruntime.so"
  rm -f "$tools"/stamp-*
  touch "$stamp"
fi

pstamp="$tools/stamp-python-$(printf '%s' "$MATURIN_VERSION ${PYTEST_PACKAGES[*]}" | sha256sum | cut -c1-12)"
if [ ! -f "$pstamp" ] || [ ! -x "$venv/bin/maturin" ]; then
  say "installing maturin $MATURIN_VERSION and the Python tests' wheelhouse"
  "$venv/bin/pip" install -q --disable-pip-version-check "maturin==$MATURIN_VERSION"
  "$venv/bin/pip" download -q --disable-pip-version-check -d "$tools/wheels" "${PYTEST_PACKAGES[@]}"
  rm -f "$tools"/stamp-python-*
  touch "$pstamp"
fi

if [ "$bench" -eq 1 ]; then
  # The load generator of the serve benchmark.
  install_debs wrk
  bstamp="$tools/stamp-bench-$(printf '%s' "${BENCH_PACKAGES[*]}" | sha256sum | cut -c1-12)"
  if [ ! -f "$bstamp" ]; then
    say "installing the Python reference stack: ${BENCH_PACKAGES[*]}"
    "$venv/bin/pip" install -q --disable-pip-version-check "${BENCH_PACKAGES[@]}"
    rm -f "$tools"/stamp-bench-*
    touch "$bstamp"
  fi
fi

if [ "$engines" -eq 1 ]; then
  command -v java >/dev/null 2>&1 || install_debs default-jre-headless
  estamp="$tools/stamp-engines-$(printf '%s' "${ENGINE_PACKAGES[*]}" | sha256sum | cut -c1-12)"
  if [ ! -f "$estamp" ]; then
    say "adding the engines to the wheelhouse: ${ENGINE_PACKAGES[*]}"
    # `pip wheel`: PySpark is published as a source archive; its wheel is built once here.
    "$venv/bin/pip" wheel -q --disable-pip-version-check -w "$tools/wheels" "${ENGINE_PACKAGES[@]}"
    rm -f "$tools"/stamp-engines-*
    printf '%s\n' "${ENGINE_PACKAGES[@]}" > "$estamp"
  fi
fi
