#!/usr/bin/env bash
# Consistent GET (no resourceVersion) on etcd, one interleaved round: each variant a fresh
# federation-apiserver (--controllers none) on a fresh 3-member etcd (etcd_cluster.sh), or on a
# fresh SQLite file for the baseline, then bench_api's closed-loop GET at each connection count
# with the server's and the etcd members' CPU per GET and, from /metrics, consistent-read
# rounds/s and reads per round. Variants (VARIANTS, default "before etcd etcdthreads32 sqlite"):
#   before        = BEFORE_BINARY on etcd (e.g. main's build-rel binary, copied aside)
#   etcd          = this build on etcd, default flags
#   etcdthreadsN  = this build on etcd with --http-threads N
#   etcdholdN     = this build on etcd with --watch-cache-consistent-read-hold-us N (0: rounds
#                   for parked reads are never held, as before h13g)
#   etcd+F=V+...  = this build on etcd with --F V ... (e.g. etcd+http-read-threads=0)
#   etcdleader / etcdfollower = this build on etcd, the raft leader's (a follower's) URL first
#   sqlite        = this build on SQLite (the baseline)
#   beforesqlite  = BEFORE_BINARY on SQLite (to show a change leaves SQLite's GET as it was)
#   bench/federation-apiserver/consistent_get.sh [BEFORE_BINARY]
# BIN (default build/bin): this build; BENCH_API (default $BIN/bench_api); SECONDS_PER_RUN (2);
# CONNECTIONS (8,16,32). Run it under bench/run_quiet.py, once per round (~80 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/federation-apiserver/etcd_cluster.sh
bin=${BIN:-build/bin}
bench_api=${BENCH_API:-$bin/bench_api}
before=${1:-}
variants=(before etcd etcdthreads32 sqlite)
[ -z "$before" ] && variants=(etcd etcdthreads32 sqlite)
[ -n "${VARIANTS:-}" ] && read -r -a variants <<< "$VARIANTS"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $(date -u +%H:%M:%S) UTC"
for variant in "${variants[@]}"; do
  dir=$(mktemp -d)
  pids=()
  binary=$bin/federation-apiserver
  extra=()
  storage="sqlite:$dir/bench.db"
  case $variant in
    before) binary=$before; start_etcd_cluster "$dir"; storage=$etcd_storage ;;
    etcd) start_etcd_cluster "$dir"; storage=$etcd_storage ;;
    etcdthreads*) start_etcd_cluster "$dir"; storage=$etcd_storage
      extra=(--http-threads "${variant#etcdthreads}") ;;
    etcd+*) start_etcd_cluster "$dir"; storage=$etcd_storage
      IFS=+ read -r -a flags <<< "${variant#etcd+}"
      for f in "${flags[@]}"; do extra+=("--${f%%=*}" "${f#*=}"); done ;;
    etcdleader) start_etcd_cluster "$dir"; etcd_storage_first leader; storage=$etcd_storage ;;
    etcdfollower) start_etcd_cluster "$dir"; etcd_storage_first follower; storage=$etcd_storage ;;
    etcdhold*) start_etcd_cluster "$dir"; storage=$etcd_storage
      extra=(--watch-cache-consistent-read-hold-us "${variant#etcdhold}") ;;
    sqlite) ;;
    beforesqlite) binary=$before ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
  esac
  store_pids=$(IFS=,; echo "${pids[*]}")
  "$binary" --listen 127.0.0.1:0 --storage "$storage" --controllers none --log-level warn \
    "${extra[@]}" > "$dir/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/out" | head -1)
  echo "== $variant ($(cut -d' ' -f1 /proc/loadavg) load)"
  "$bench_api" --server "$url" --seconds "${SECONDS_PER_RUN:-2}" --server-pid "$pid" \
    ${store_pids:+--store-pids "$store_pids"} --phases get \
    --get-connections "${CONNECTIONS:-8,16,32}" || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
done
