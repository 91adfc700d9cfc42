#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test: unit, integration
# (real binaries on loopback), end-to-end, then each libFuzzer target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's end is stamped with the seconds since the start (CI's 30-minute budget).
phase() { echo "test.sh: $1 done at $((SECONDS / 60)) min $((SECONDS % 60)) s"; }
./scripts/setup.sh
phase setup
# On CI (a fresh clone, no compiler cache) build fast and keep assertions on; by hand, reuse
# the same build/ as the demo.
# On CI the benchmarks are not built (they are built by every developer build, and cost a
# minute here) and the fuzz build is at -O0 (quicker to compile for its short smoke runs).
if [ -n "${CI:-}" ] && [ -z "${MERIDIAN_BUILD_TYPE:-}" ]; then
  export MERIDIAN_BUILD_TYPE=CI MERIDIAN_BUILD_DIR=${MERIDIAN_BUILD_DIR:-build-ci}
  export MERIDIAN_CMAKE_ARGS=${MERIDIAN_CMAKE_ARGS:--DMERIDIAN_BENCH=OFF}
  export MERIDIAN_FUZZ_OPT=${MERIDIAN_FUZZ_OPT:--O0}
  # The libraries' precompiled header (cmake/Meridian.cmake) in the fuzz build too: no ccache
  # on a fresh clone to lose by it.
  export MERIDIAN_FUZZ_PCH=${MERIDIAN_FUZZ_PCH:-ON}
  # clang compiles this code base 1.5-2x faster than GCC at -O0 (policy_json.cc 3.6 vs 5.4 s,
  # http_server.cc 17 vs 34 s of CPU), and setup.sh installs it for the fuzzers anyway.
  # Developer builds keep the system compiler (GCC), whose -O2 code the benchmarks measure.
  # lld links a server or test binary with ~0.9 s of CPU against ~6.3 s for ld.bfd.
  if [ -z "${CXX:-}" ] && command -v clang++ >/dev/null; then export CXX=clang++; fi
  if command -v ld.lld >/dev/null; then
    MERIDIAN_CMAKE_ARGS="$MERIDIAN_CMAKE_ARGS -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld"
  fi
fi
# Each fuzzer runs 3 s on CI (a smoke run from the seed corpus within the 30-minute budget,
# which the cold compile now nearly fills), 20 s by hand; a new fuzzer gets 60 s
# (scripts/fuzz.sh's default) before it is committed.
if [ -n "${CI:-}" ]; then FUZZ_SECONDS_DEFAULT=3; else FUZZ_SECONDS_DEFAULT=20; fi
BUILD_DIR=${MERIDIAN_BUILD_DIR:-build}
# kube-apiserver (minutes of Go, cached in $BUILD_DIR/kube) starts now, beside the C++ build:
# its download, unpacking and single-threaded openapi-gen leave cores idle that the compiler
# uses. The CMake target of the same script waits on its lock and then finds it built.
kube_pid=""
if [[ "${MERIDIAN_CMAKE_ARGS:-}" != *MERIDIAN_REAL_KUBE=OFF* ]]; then
  mkdir -p "$BUILD_DIR/kube"
  ./scripts/build-kube-apiserver.sh "$BUILD_DIR/kube" >"$BUILD_DIR/kube/background.log" 2>&1 &
  kube_pid=$!
fi
./scripts/build.sh
phase build
if [ -n "$kube_pid" ] && ! wait "$kube_pid"; then
  cat "$BUILD_DIR/kube/background.log" >&2
  exit 1
fi
# The fuzz build (its own build dir: every library again with ASan/UBSan, ~3 min of both cores
# on a fresh clone) runs beside the test suite at the lowest priority: the suite's tests wait
# on loopback servers much of the time (measured: 367 s of CPU in 369 s, one of the two cores),
# and a test that needs a core gets it first (nice 19 against 0 is a weight of 15 against 1024).
fuzz_build_pid=""
if [ -d test/fuzz ]; then
  nice -n 19 ./scripts/fuzz.sh --build-only >"$BUILD_DIR/fuzz-build.log" 2>&1 &
  fuzz_build_pid=$!
fi
tests_rc=0
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${MERIDIAN_TEST_JOBS:-2}" --timeout 600) ||
  tests_rc=$?
phase tests
if [ -n "$fuzz_build_pid" ]; then
  if ! wait "$fuzz_build_pid"; then
    tail -60 "$BUILD_DIR/fuzz-build.log" >&2
    echo "test.sh: the fuzz build failed (log: $BUILD_DIR/fuzz-build.log)" >&2
    exit 1
  fi
  grep '^fuzz.sh: fuzzers built' "$BUILD_DIR/fuzz-build.log" || true
  if [ "$tests_rc" -ne 0 ]; then exit "$tests_rc"; fi
  ./scripts/fuzz.sh "${MERIDIAN_FUZZ_SECONDS:-$FUZZ_SECONDS_DEFAULT}"
  phase fuzz
fi
exit "$tests_rc"
