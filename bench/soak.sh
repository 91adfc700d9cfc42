#!/usr/bin/env bash
# Soak: a federation on loopback under mixed load for a bounded time, with every process's
# RSS, open fds and threads sampled every 10 s. Not run in CI.
#
#   bench/soak.sh [DURATION_SECONDS (default 1800)] [OUT_DIR (default .meridian/soak)]
#
# Starts membersim (examples/topology-3-continents.yaml), federation-apiserver (SQLite, all
# controllers, its DNS on the demo's zone) and meridian-dns (examples/dns/three-continents.yaml),
# joins the five members, then runs bench/soak_load.py for DURATION: FederatedWorkload CRUD,
# watches opening and closing (and a slow one every ~30 s), DNS over UDP and TCP to both DNS
# servers, member failures and heals via `membersim ctl`. Samples go to OUT_DIR/samples.csv
# (time_s,process,rss_kib,rss_anon_kib,fds,threads; RssAnon is the heap, without mapped
# files). At the end it prints, per process, the median of the samples in the first and the
# last 10 % of the run (after a warm-up: the Event TTL plus a minute, 360 s by default, so that
# the bounded-in-time state — Events kept for their TTL, the watch cache's windows kept for
# --watch-cache-window-max-age, 300 s — has filled; or a fifth of a shorter run) and a verdict:
# "growing" when RSS rose by more than 10 % and 16 MiB, fds by more than 16, or threads by more
# than 4; else "flat". Exit status 0 when all are flat, 1 otherwise. Everything it started is
# stopped on exit (by pid). Binaries from $MERIDIAN_BIN_DIR (default build/bin).
# The federation-apiserver's bounded caches (its meridian_watch_cache_* and
# meridian_list_response_cache_* gauges) are sampled too, into OUT_DIR/caches.csv, and printed
# beside its heap: growth they account for is a cache filling up to its bound, not a leak.
# API_ARGS adds flags to the federation-apiserver (e.g. smaller caches, to see whether the
# growth goes with them: API_ARGS="--watch-cache-window-bytes 262144"); API_WRAPPER runs it
# under a profiler (API_WRAPPER="heaptrack -o OUT_DIR/heap"; its samples are then the
# wrapper's process).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-1800}
OUT=${2:-.meridian/soak}
BIN=${MERIDIAN_BIN_DIR:-build/bin}
INTERVAL=10
FILL=$(( ${EVENT_TTL:-300} + 60 ))
WARMUP=$(( DURATION / 5 < FILL ? DURATION / 5 : FILL ))

rm -rf "$OUT" && mkdir -p "$OUT"
pids=()
cleanup() {
  # A wrapper's children too (API_WRAPPER=heaptrack runs the server as its child).
  for pid in "${pids[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port) SIM_PORT=$(free_port) DNS_PORT=$(free_port) DNS2_PORT=$(free_port)
API=http://127.0.0.1:$API_PORT MEMBERS=http://127.0.0.1:$SIM_PORT

wait_for() {  # URL LOG
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "soak: $1 did not come up; see $2" >&2
  tail -20 "$2" >&2
  exit 1
}

"$BIN/membersim" --config examples/topology-3-continents.yaml --listen "127.0.0.1:$SIM_PORT" \
  > "$OUT/membersim.log" 2>&1 &
pids+=($!) && SIM_PID=$!
wait_for "$MEMBERS/admin/status" "$OUT/membersim.log"
# Events expire EVENT_TTL seconds after their last write (default 300 here, 3600 in the
# server): with the server's hour a 30-minute run would end before the first Event expires and
# the store, and the watch cache with it, would still be filling up with them.
# shellcheck disable=SC2086  # API_ARGS is a list of flags
${API_WRAPPER:-} "$BIN/federation-apiserver" --listen "127.0.0.1:$API_PORT" --storage "sqlite:$OUT/federation.db" \
  --event-ttl "${EVENT_TTL:-300}" --dns-listen "127.0.0.1:$DNS_PORT" --dns-zone global.example.com \
  --dns-client-regions examples/dns/client-regions.yaml ${API_ARGS:-} > "$OUT/apiserver.log" 2>&1 &
pids+=($!) && API_PID=$!
wait_for "$API/readyz" "$OUT/apiserver.log"
"$BIN/meridian-dns" --config examples/dns/three-continents.yaml --listen "127.0.0.1:$DNS2_PORT" \
  > "$OUT/meridian-dns.log" 2>&1 &
pids+=($!) && DNS_PID=$!

FEDCTL=("$BIN/fedctl" --server "$API")
"${FEDCTL[@]}" apply -f examples/three-continents/topology.yaml > /dev/null
echo soak-token > "$OUT/member-token"
while read -r name region zones jurisdiction; do
  "${FEDCTL[@]}" join "$name" --member-url "$MEMBERS/clusters/$name" --token-file "$OUT/member-token" \
    --region "$region" --zones "$zones" --jurisdiction "$jurisdiction" > /dev/null
done <<'TABLE'
us-east-1    us-east    us-east-1a,us-east-1b,us-east-1c          us
us-west-1    us-west    us-west-1a,us-west-1b                     us
eu-west-1    eu-west    eu-west-1a,eu-west-1b,eu-west-1c          eu
eu-central-1 eu-central eu-central-1a,eu-central-1b               eu
ap-south-1   ap-south   ap-south-1a,ap-south-1b                   in
TABLE
# A global name for the federation's DNS to answer (web.global.example.com).
sed 's/namespace: shop/namespace: default/' examples/dns/web-service.yaml > "$OUT/web-service.yaml"
"${FEDCTL[@]}" apply -f "$OUT/web-service.yaml" > /dev/null

echo "soak: ${DURATION}s of mixed load; API $API, members $MEMBERS, DNS :$DNS_PORT and :$DNS2_PORT; samples in $OUT/samples.csv"
python3 bench/soak_load.py --api "127.0.0.1:$API_PORT" --membersim "$BIN/membersim" \
  --members-url "$MEMBERS" --duration "$DURATION" \
  --dns "127.0.0.1:$DNS_PORT:web.global.example.com" --dns "127.0.0.1:$DNS2_PORT:web.global.example.com" \
  > "$OUT/load.json" 2> "$OUT/load.log" &
LOAD_PID=$!
pids+=("$LOAD_PID")

echo "time_s,process,rss_kib,rss_anon_kib,fds,threads" > "$OUT/samples.csv"
start=$(date +%s)
sample() {  # NAME PID
  local rss anon threads fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$2/status" 2>/dev/null) || return 0
  anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$2/status" 2>/dev/null) || return 0
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$2/status" 2>/dev/null) || return 0
  fds=$(ls "/proc/$2/fd" 2>/dev/null | wc -l)
  echo "$(( $(date +%s) - start )),$1,$rss,$anon,$fds,$threads" >> "$OUT/samples.csv"
}
echo "time_s,objects,object_kib,window_kib,list_kib" > "$OUT/caches.csv"
sample_caches() {  # the apiserver's cache gauges, summed over resources
  curl -fsS "$API/metrics" 2>/dev/null | awk -v t="$(( $(date +%s) - start ))" '
    /^meridian_watch_cache_objects[{ ]/ {o += $NF}
    /^meridian_watch_cache_object_bytes[{ ]/ {ob += $NF}
    /^meridian_watch_cache_window_bytes[{ ]/ {wb += $NF}
    /^meridian_list_response_cache_bytes[{ ]/ {lb += $NF}
    END {printf "%d,%d,%d,%d,%d\n", t, o, ob / 1024, wb / 1024, lb / 1024}' >> "$OUT/caches.csv" || true
}
while kill -0 "$LOAD_PID" 2>/dev/null; do
  sample_caches
  sample federation-apiserver "$API_PID"
  sample membersim "$SIM_PID"
  sample meridian-dns "$DNS_PID"
  sleep "$INTERVAL"
done
wait "$LOAD_PID" || { echo "soak: the load generator failed; see $OUT/load.log" >&2; exit 1; }
for p in "$API_PID" "$SIM_PID" "$DNS_PID"; do
  kill -0 "$p" 2>/dev/null || { echo "soak: a server exited during the run; see $OUT/*.log" >&2; exit 1; }
done
echo "soak: load counters $(cat "$OUT/load.json")"

python3 - "$OUT/samples.csv" "$WARMUP" "$OUT/caches.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
warmup = int(sys.argv[2])
caches = [r for r in csv.DictReader(open(sys.argv[3])) if int(r["time_s"]) >= warmup]
verdict_ok = True
has_anon = bool(rows) and "rss_anon_kib" in rows[0]
print("%-22s %22s %22s %14s %14s  %s" % ("process", "RSS MiB start -> end", "heap (RssAnon) MiB",
                                         "fds", "threads", "verdict"))
for proc in sorted({r["process"] for r in rows}):
    rs = [r for r in rows if r["process"] == proc and int(r["time_s"]) >= warmup]
    if len(rs) < 4:
        print("%-22s too few samples" % proc); verdict_ok = False; continue
    k = max(1, len(rs) // 10)
    def med(part, key): return statistics.median(float(r[key]) for r in part)
    keys = ("rss_kib", "rss_anon_kib", "fds", "threads") if has_anon else ("rss_kib", "fds", "threads")
    s = {key: med(rs[:k], key) for key in keys}
    e = {key: med(rs[-k:], key) for key in keys}
    heap = ("%9.1f -> %9.1f" % (s["rss_anon_kib"] / 1024, e["rss_anon_kib"] / 1024)) if has_anon else "-"
    growing = ((e["rss_kib"] - s["rss_kib"] > 16 * 1024 and e["rss_kib"] > 1.1 * s["rss_kib"])
               or e["fds"] - s["fds"] > 16 or e["threads"] - s["threads"] > 4)
    verdict_ok &= not growing
    print("%-22s %9.1f -> %9.1f %22s %6d -> %5d %6d -> %5d  %s" % (
        proc, s["rss_kib"] / 1024, e["rss_kib"] / 1024, heap, s["fds"], e["fds"], s["threads"],
        e["threads"], "growing" if growing else "flat"))
if len(caches) >= 4:
    # The same first and last tenth as the heap's: what the bounded caches hold then.
    k = max(1, len(caches) // 10)
    def cmed(part, key): return statistics.median(float(r[key]) for r in part)
    print("federation-apiserver caches (MiB of encodings; decoded objects take more again):")
    for key, what in (("object_kib", "watch cache objects"), ("window_kib", "watch cache windows"),
                      ("list_kib", "LIST bodies")):
        print("  %-22s %9.1f -> %9.1f" % (what, cmed(caches[:k], key) / 1024, cmed(caches[-k:], key) / 1024))
    print("  %-22s %9d -> %9d" % ("objects", cmed(caches[:k], "objects"), cmed(caches[-k:], "objects")))
print("soak verdict:", "flat" if verdict_ok else "growing")
sys.exit(0 if verdict_ok else 1)
PY
