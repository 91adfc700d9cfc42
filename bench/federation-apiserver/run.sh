#!/usr/bin/env bash
# Whole-system API figures: starts a federation-apiserver on a free loopback port, runs
# bench_api against it (bounded: ~5 s per phase), stops the server. For each backend named
# (default sqlite), in the same run: sqlite = a fresh SQLite file; etcd = a fresh 3-member
# etcd cluster on loopback (bench/federation-apiserver/etcd_cluster.sh).
#   bench/federation-apiserver/run.sh [SECONDS_PER_PHASE] [sqlite] [etcd]
set -euo pipefail
cd "$(dirname "$0")/../.."
./scripts/build.sh federation-apiserver bench_api >/dev/null
source bench/federation-apiserver/etcd_cluster.sh
seconds=${1:-5}
shift || true
backends=("${@:-sqlite}")
[ ${#backends[@]} -eq 0 ] && backends=(sqlite)
for backend in "${backends[@]}"; do
  dir=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"' EXIT
  case $backend in
    sqlite) storage="sqlite:$dir/bench.db" ;;
    etcd) start_etcd_cluster "$dir"; storage=$etcd_storage ;;
    *) echo "unknown backend $backend (sqlite|etcd)" >&2; exit 2 ;;
  esac
  build/bin/federation-apiserver --listen 127.0.0.1:0 --storage "$storage" --log-level warn > "$dir/out" 2>&1 &
  pid=$!
  pids+=($pid)
  for _ in $(seq 1 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/out" | head -1)
  echo "== $backend: federation-apiserver at $url, storage $storage ($(nproc) cores)"
  build/bin/bench_api --server "$url" --seconds "$seconds"
  echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
  for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
done
