#!/usr/bin/env bash
# The watch cache's effect, same run: for each of RUNS rounds, interleaved, one fresh
# federation-apiserver (fresh SQLite file, --controllers none) per variant runs every bench_api
# phase (GET, LIST 1,000, creates, 1,000-watcher fan-out, then the watch storm of issue 22):
#   before  = BEFORE_BINARY (e.g. a copy of main's build/bin/federation-apiserver)
#   nocache = this build with --watch-cache=false (the REST changes without the cache)
#   nolistcache = this build without the LIST response cache (--list-response-cache-bytes 0:
#             every LIST is encoded, and gzip-compressed, again; the label index still used)
#   cache   = this build (the default)
#   arena2  = this build with MALLOC_ARENA_MAX=2 (glibc's arenas capped: issue 22's RSS question)
#   etcd    = this build on a fresh 3-member etcd on loopback (etcd_cluster.sh) instead of SQLite
#   etcdstorereads = etcd with --watch-cache-consistent-reads=false: every GET and consistent
#             LIST read from etcd (what the cache did before etcd write markers)
#   etcdroundsN = etcd with --watch-cache-consistent-read-rounds N (etcdrounds1: one
#             consistent-read round in flight per resource, a reader arriving during it waits
#             for it to return; the default is 1)
#   beforeetcd = BEFORE_BINARY on a fresh 3-member etcd
# NO_STORM=1 skips the watch-storm part (each variant's second server).
# bench_api's LIST phase runs as it is and with Accept-Encoding: gzip, each with the collection
# unchanged and with 10 updates/s to it (a LIST response cache hit is not the common case).
#   bench/federation-apiserver/watch_cache.sh [RUNS] [SECONDS_PER_PHASE] [BEFORE_BINARY]
# BIN (default build/bin) is where this build's federation-apiserver is, BENCH_API the load
# generator (default $BIN/bench_api), BENCH_ARGS more bench_api flags (e.g. --create-clients 32).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/federation-apiserver/etcd_cluster.sh
bin=${BIN:-build/bin}
bench_api=${BENCH_API:-$bin/bench_api}
runs=${1:-3}
seconds=${2:-3}
before=${3:-}
variants=(nocache cache)
[ -n "$before" ] && variants=(before "${variants[@]}")
[ -n "${VARIANTS:-}" ] && read -r -a variants <<< "$VARIANTS"  # e.g. VARIANTS="before cache"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
# One server per variant and part: the phases with the watch budgets lifted (1,000 watchers),
# then a fresh one with the default budgets for the storm alone (issue 22's method).
serve() {  # serve VARIANT ARGS... : starts a server, sets $pid and $url
  local variant=$1
  shift
  dir=$(mktemp -d)
  pids=()
  local binary=$bin/federation-apiserver
  local extra=() storage="sqlite:$dir/bench.db" env=()
  case $variant in
    before) binary=$before ;;
    nocache) extra=(--watch-cache=false) ;;
    nolistcache) extra=(--list-response-cache-bytes 0) ;;
    arena2) env=(MALLOC_ARENA_MAX=2) ;;
    etcd) start_etcd_cluster "$dir"; storage=$etcd_storage ;;
    etcdstorereads) start_etcd_cluster "$dir"; storage=$etcd_storage
      extra=(--watch-cache-consistent-reads=false) ;;
    etcdrounds*) start_etcd_cluster "$dir"; storage=$etcd_storage
      extra=(--watch-cache-consistent-read-rounds "${variant#etcdrounds}") ;;
    beforeetcd) binary=$before; start_etcd_cluster "$dir"; storage=$etcd_storage ;;
  esac
  env "${env[@]}" "$binary" --listen 127.0.0.1:0 --storage "$storage" --controllers none \
    --log-level warn "${extra[@]}" "$@" > "$dir/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/out" | head -1)
}
stop() {
  echo "server peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MiB"}')"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done  # the etcd variant's members
  wait 2>/dev/null || true
  rm -rf "$dir"
}
for run in $(seq 1 "$runs"); do
  for variant in "${variants[@]}"; do
    serve "$variant" --max-watches 0 --max-watches-per-user 0
    echo "== run $run $variant phases ($(cut -d' ' -f1 /proc/loadavg) load)"
    # shellcheck disable=SC2086
    "$bench_api" --server "$url" --seconds "$seconds" --server-pid "$pid" --storm-watchers 0 \
      ${BENCH_ARGS:-} || true
    stop
    [ -n "${NO_STORM:-}" ] && continue
    serve "$variant"
    echo "== run $run $variant storm ($(cut -d' ' -f1 /proc/loadavg) load)"
    "$bench_api" --server "$url" --seconds 5 --only storm || true
    stop
  done
done
