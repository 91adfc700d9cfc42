#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for SECONDS (default
# 60, what a new fuzzer must survive before it is committed; CI passes 3) from its seed
# corpus, MERIDIAN_JOBS (default 2) at a time. Any crash, leak or sanitizer report fails the
# run and leaves the input in build-fuzz/crashes/. FUZZERS="fuzz_yaml fuzz_patch" runs only
# those. `fuzz.sh --build-only` only builds (test.sh runs it beside the test suite, whose
# loopback servers leave the cores mostly idle).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_ONLY=false
if [ "${1:-}" = --build-only ]; then BUILD_ONLY=true; shift; fi
SECONDS_EACH=${1:-60}
JOBS=${MERIDIAN_JOBS:-2}
if [ ! -f build-fuzz/build.ninja ]; then
  linker=()
  if command -v ld.lld >/dev/null; then linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld); fi
  CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DMERIDIAN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DMERIDIAN_FUZZ_OPT=${MERIDIAN_FUZZ_OPT:--O1 -gline-tables-only}" \
    "-DMERIDIAN_PCH=${MERIDIAN_FUZZ_PCH:-OFF}" "${linker[@]}"
fi
cmake --build build-fuzz -j "$JOBS"
echo "fuzz.sh: fuzzers built at $((SECONDS / 60)) min $((SECONDS % 60)) s"
if $BUILD_ONLY; then exit 0; fi
mkdir -p build-fuzz/crashes

# Runs one fuzzer; its output goes to build-fuzz/NAME.log, a one-line verdict to stdout.
run_one() {
  local fuzzer=$1 name corpus work
  name=$(basename "$fuzzer")
  corpus=test/fuzz/corpus/${name#fuzz_}
  work=build-fuzz/corpus/$name
  mkdir -p "$work"
  rm -f "build-fuzz/$name.failed"
  if [ -d "$corpus" ]; then cp -n "$corpus"/* "$work"/ 2>/dev/null || true; fi
  if ! "$fuzzer" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
      -artifact_prefix=build-fuzz/crashes/"$name"- "$work" > "build-fuzz/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"
    touch "build-fuzz/$name.failed"
    return 1
  fi
  echo "fuzz: $name for ${SECONDS_EACH}s: $(grep -E 'stat::number_of_executed_units' \
    "build-fuzz/$name.log" || echo 'no stats')"
}

selected=()
for fuzzer in build-fuzz/bin/fuzz_*; do
  name=$(basename "$fuzzer")
  if [ -n "${FUZZERS:-}" ] && [[ " $FUZZERS " != *" $name "* ]]; then continue; fi
  selected+=("$fuzzer")
done

# JOBS at a time: wait for the oldest of a full batch before starting the next.
status=0
pids=()
for fuzzer in "${selected[@]}"; do
  if [ "${#pids[@]}" -ge "$JOBS" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
  run_one "$fuzzer" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

# The logs of the failed ones, after all have stopped (no interleaving).
for fuzzer in "${selected[@]}"; do
  name=$(basename "$fuzzer")
  if [ -f "build-fuzz/$name.failed" ]; then
    echo "fuzz: tail of build-fuzz/$name.log:"
    tail -40 "build-fuzz/$name.log"
  fi
done
exit $status
