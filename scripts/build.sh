#!/usr/bin/env bash
# Configures (once) and builds Meridian with Ninja into build/. Extra args are ninja targets.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${MERIDIAN_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # shellcheck disable=SC2086  # MERIDIAN_CMAKE_ARGS is a list of -D options
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${MERIDIAN_BUILD_TYPE:-RelWithDebInfo} \
    ${MERIDIAN_CMAKE_ARGS:-}
fi
# Two cores, and gRPC/cpprestsdk translation units take >1 GiB each: -j2 is the sweet spot.
cmake --build "$BUILD_DIR" -j "${MERIDIAN_JOBS:-2}" -- "$@"
