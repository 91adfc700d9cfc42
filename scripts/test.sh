#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test: unit, integration
# (real binaries on loopback), end-to-end, then each libFuzzer target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
BUILD_DIR=${MERIDIAN_BUILD_DIR:-build}
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${MERIDIAN_TEST_JOBS:-2}" --timeout 600)
if [ -d test/fuzz ]; then
  ./scripts/fuzz.sh "${MERIDIAN_FUZZ_SECONDS:-20}"
fi
