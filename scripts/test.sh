#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test: unit, integration
# (real binaries on loopback), end-to-end, then each libFuzzer target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# On CI (a fresh clone, no compiler cache) build fast and keep assertions on; by hand, reuse
# the same build/ as the demo.
if [ -n "${CI:-}" ] && [ -z "${MERIDIAN_BUILD_TYPE:-}" ]; then
  export MERIDIAN_BUILD_TYPE=CI MERIDIAN_BUILD_DIR=${MERIDIAN_BUILD_DIR:-build-ci}
fi
# Each fuzzer runs 8 s on CI (a smoke run from the seed corpus within the 30-minute budget),
# 20 s by hand; a new fuzzer gets 60 s (scripts/fuzz.sh's default) before it is committed.
if [ -n "${CI:-}" ]; then FUZZ_SECONDS_DEFAULT=8; else FUZZ_SECONDS_DEFAULT=20; fi
./scripts/build.sh
BUILD_DIR=${MERIDIAN_BUILD_DIR:-build}
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${MERIDIAN_TEST_JOBS:-2}" --timeout 600)
if [ -d test/fuzz ]; then
  ./scripts/fuzz.sh "${MERIDIAN_FUZZ_SECONDS:-$FUZZ_SECONDS_DEFAULT}"
fi
