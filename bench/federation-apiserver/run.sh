#!/usr/bin/env bash
# Whole-system API figures: starts a federation-apiserver on a free loopback port with a
# fresh SQLite file, runs bench_api against it (bounded: ~5 s per phase), stops the server.
#   bench/federation-apiserver/run.sh [SECONDS_PER_PHASE]
set -euo pipefail
cd "$(dirname "$0")/../.."
./scripts/build.sh federation-apiserver bench_api >/dev/null
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
build/bin/federation-apiserver --listen 127.0.0.1:0 --storage "sqlite:$dir/bench.db" --log-level warn > "$dir/out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/out" | head -1)
echo "federation-apiserver at $url ($(nproc) cores)"
build/bin/bench_api --server "$url" --seconds "${1:-5}"
echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
