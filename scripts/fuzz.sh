#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each, one after the other,
# for SECONDS (default 60, what a new fuzzer must survive before it is committed; CI passes 8)
# from its seed corpus. Any crash, leak or sanitizer report fails the run and leaves the input
# in build-fuzz/crashes/. FUZZERS="fuzz_yaml fuzz_patch" runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
if [ ! -f build-fuzz/build.ninja ]; then
  linker=()
  if command -v ld.lld >/dev/null; then linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld); fi
  CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DMERIDIAN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DMERIDIAN_FUZZ_OPT=${MERIDIAN_FUZZ_OPT:--O1 -gline-tables-only}" \
    "-DMERIDIAN_PCH=${MERIDIAN_FUZZ_PCH:-OFF}" "${linker[@]}"
fi
cmake --build build-fuzz -j "${MERIDIAN_JOBS:-2}"
echo "fuzz.sh: fuzzers built at $((SECONDS / 60)) min $((SECONDS % 60)) s"
mkdir -p build-fuzz/crashes
status=0
for fuzzer in build-fuzz/bin/fuzz_*; do
  name=$(basename "$fuzzer")
  if [ -n "${FUZZERS:-}" ] && [[ " $FUZZERS " != *" $name "* ]]; then continue; fi
  corpus=test/fuzz/corpus/${name#fuzz_}
  work=build-fuzz/corpus/$name
  mkdir -p "$work"
  [ -d "$corpus" ] && cp -n "$corpus"/* "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${SECONDS_EACH}s"
  if ! "$fuzzer" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
      -artifact_prefix=build-fuzz/crashes/"$name"- "$work" > "build-fuzz/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; tail of build-fuzz/$name.log:"; tail -40 "build-fuzz/$name.log"
    status=1
  else
    grep -E 'stat::number_of_executed_units' "build-fuzz/$name.log" || true
  fi
done
exit $status
