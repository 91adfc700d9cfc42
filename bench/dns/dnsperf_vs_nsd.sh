#!/usr/bin/env bash
# Meridian's DNS server against NSD and Knot DNS, same machine, same zone, same queries, same run.
#
#   bench/dns/dnsperf_vs_nsd.sh [SECONDS=10] [THREADS=1]
#
# Starts meridian-dns (--threads THREADS), nsd (server-count THREADS) and, when knotd is
# installed (Debian's `knot`; DNS_BENCH_KNOT=0 leaves it out), knotd (udp-workers THREADS) in
# the foreground on 127.0.0.1 with their own config, zone and pid files in a temp dir, serving
# an equivalent static zone. Then:
#   1. throughput: dnsperf for SECONDS against each (8 clients, 100 outstanding) in two
#      halves ordered nsd, meridian, knot, knot, meridian, nsd (A B C C B A); QPS and ratios;
#   2. latency: a dnsperf load at NSD's QPS minus 1000 (-Q) plus, at the same time, a 1000 QPS
#      probe dnsperf with per-query output (-v), SECONDS/4 per server in the same order;
#      p50/p99 come from the probe's per-query latencies, since dnsperf 2.10 prints only
#      average and standard deviation (and -v on the whole load slows dnsperf itself);
#   3. a geo run: Meridian answering a geo-strategy name to queries carrying an ECS option.
# DNS_BENCH_NICE=-10 runs both servers and dnsperf at that nice level (root only), so that on a
# shared machine background builds disturb the comparison less; it applies to both alike.
# Everything it started is stopped on exit (also on error or Ctrl-C). Needs dnsperf and nsd
# (Debian packages; scripts/setup.sh installs them; knot is optional, `apt-get install knot`:
# its system service is not used) and a built meridian-dns.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
THREADS=${2:-1}
BIN=${MERIDIAN_BIN_DIR:-build/bin}
NICE=(nice -n "${DNS_BENCH_NICE:-0}")
# DNS_BENCH_PIN=1 pins both servers to CPU 0 and dnsperf to CPU 1, so that the server, not the
# load generator, is what runs out of CPU (with both free to float, max QPS is often dnsperf's).
SERVER_CPU=() CLIENT_CPU=()
if [ "${DNS_BENCH_PIN:-0}" = 1 ]; then SERVER_CPU=(taskset -c 0) CLIENT_CPU=(taskset -c 1); fi
NSD=${NSD:-$(command -v nsd || echo /usr/sbin/nsd)}
for tool in dnsperf "$NSD" "$BIN/meridian-dns"; do
  command -v "$tool" > /dev/null || { echo "dnsperf_vs_nsd: $tool not found" >&2; exit 2; }
done
KNOTD=${KNOTD:-$(command -v knotd || echo /usr/sbin/knotd)}
SERVERS=(nsd meridian)
if [ "${DNS_BENCH_KNOT:-1}" = 1 ]; then
  if [ -x "$KNOTD" ]; then
    SERVERS+=(knot)
  else
    echo "dnsperf_vs_nsd: knotd not found, comparing with NSD only (apt-get install knot)" >&2
  fi
fi
has_knot() { [[ " ${SERVERS[*]} " == *" knot "* ]]; }
# The rounds' order, A B C C B A: a drift in background load hits every server alike.
ORDER=("${SERVERS[@]}")
for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do ORDER+=("${SERVERS[$i]}"); done

WORK=$(mktemp -d /tmp/meridian-dns-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
# A signal (Ctrl-C, a closed pipe) also stops the servers: bash skips the EXIT trap otherwise.
for sig in INT TERM HUP PIPE; do
  # shellcheck disable=SC2064
  trap "echo 'dnsperf_vs_nsd: stopped by SIG$sig' >&2; cleanup; trap - EXIT; exit 130" "$sig"
done

# A port free for both UDP and TCP on loopback (for NSD; meridian-dns picks its own with :0).
free_port() {
  python3 - << 'EOF'
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
EOF
}

# --- the zone, written once for each server -----------------------------------------------
cat > "$WORK/global.example.com.zone" << 'EOF'
$ORIGIN global.example.com.
$TTL 30
@            300  IN SOA  ns1.global.example.com. hostmaster.global.example.com. 1 3600 600 86400 30
@            3600 IN NS   ns1.global.example.com.
web               IN A    198.51.100.10
web               IN A    203.0.113.10
web               IN AAAA 2001:db8::10
www          300  IN CNAME web.global.example.com.
api          10   IN A    203.0.113.30
info         60   IN TXT  "meridian federation global name"
_http._tcp.web    IN SRV  0 10 80 web.global.example.com.
EOF
cat > "$WORK/meridian.yaml" << 'EOF'
zones:
  - apex: global.example.com
    soa: {mname: ns1.global.example.com, rname: hostmaster.global.example.com, serial: 1,
          refresh: 3600, retry: 600, expire: 86400, minimum: 30, ttl: 300}
    nameservers: [ns1.global.example.com]
rtt:
  - {from: eu-west, to: us-east, ms: 80}
clientRegions:
  - {cidr: 81.0.0.0/8, region: eu-west}
  - {cidr: 3.0.0.0/8, region: us-east}
records:
  - {name: web.global.example.com, type: A, ttl: 30,
     endpoints: [{target: 198.51.100.10}, {target: 203.0.113.10}]}
  - {name: web.global.example.com, type: AAAA, ttl: 30, endpoints: [{target: "2001:db8::10"}]}
  - {name: www.global.example.com, type: CNAME, ttl: 300, endpoints: [{target: web.global.example.com}]}
  - {name: api.global.example.com, type: A, ttl: 10, endpoints: [{target: 203.0.113.30}]}
  - {name: info.global.example.com, type: TXT, ttl: 60, endpoints: [{target: meridian federation global name}]}
  - {name: _http._tcp.web.global.example.com, type: SRV, ttl: 30,
     endpoints: [{target: web.global.example.com, port: 80, priority: 0, weight: 10}]}
  - name: geo.global.example.com
    type: A
    ttl: 30
    strategy: geo
    endpoints:
      - {target: 198.51.100.20, region: eu-west}
      - {target: 203.0.113.20, region: us-east}
EOF
cat > "$WORK/queries.txt" << 'EOF'
web.global.example.com A
www.global.example.com A
api.global.example.com A
web.global.example.com AAAA
info.global.example.com TXT
_http._tcp.web.global.example.com SRV
nope.global.example.com A
web.global.example.com MX
EOF
echo "geo.global.example.com A" > "$WORK/geo-queries.txt"

NSD_PORT=$(free_port)
cat > "$WORK/nsd.conf" << EOF
server:
  ip-address: 127.0.0.1
  port: $NSD_PORT
  server-count: $THREADS
  username: ""
  chroot: ""
  zonesdir: "$WORK"
  database: ""
  zonelistfile: "$WORK/zone.list"
  xfrdfile: "$WORK/xfrd.state"
  xfrdir: "$WORK"
  pidfile: "$WORK/nsd.pid"
  logfile: "$WORK/nsd.log"
  hide-version: yes
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: global.example.com
  zonefile: global.example.com.zone
EOF
KNOT_PORT=""
if has_knot; then
  KNOT_PORT=$(free_port)
  mkdir -p "$WORK/knot"
  # One UDP worker per thread as NSD's server-count; no journal or zone file writes.
  cat > "$WORK/knot.conf" << EOF
server:
    listen: 127.0.0.1@$KNOT_PORT
    rundir: "$WORK/knot"
    pidfile: "$WORK/knot/knot.pid"
    udp-workers: $THREADS
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$WORK/knot/knot.sock"
log:
  - target: "$WORK/knot.log"
    any: warning
database:
    storage: "$WORK/knot"
template:
  - id: default
    storage: "$WORK"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: global.example.com
    file: global.example.com.zone
EOF
fi

# --- start the servers --------------------------------------------------------------------
# setsid: the servers get their own sessions; this script stops them itself (cleanup).
"${NICE[@]}" "${SERVER_CPU[@]}" setsid "$NSD" -d -c "$WORK/nsd.conf" > "$WORK/nsd.out" 2>&1 &
NSD_PID=$!
PIDS+=($NSD_PID)
"${NICE[@]}" "${SERVER_CPU[@]}" setsid "$BIN/meridian-dns" --config "$WORK/meridian.yaml" --listen 127.0.0.1:0 --threads "$THREADS" --rrl-rate 0 \
  > "$WORK/meridian.out" 2>&1 &
MERIDIAN_PID=$!
PIDS+=($MERIDIAN_PID)
KNOT_PID=""
if has_knot; then
  "${NICE[@]}" "${SERVER_CPU[@]}" setsid "$KNOTD" -c "$WORK/knot.conf" > "$WORK/knot.out" 2>&1 &
  KNOT_PID=$!
  PIDS+=($KNOT_PID)
fi

MERIDIAN_PORT=""
for _ in $(seq 100); do
  # The background job opens meridian.out itself, possibly after this first look.
  MERIDIAN_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/meridian.out" 2> /dev/null || true)
  if [ -n "$MERIDIAN_PORT" ] && dig @127.0.0.1 -p "$NSD_PORT" +time=1 +tries=1 +short global.example.com SOA \
      > /dev/null 2>&1; then
    break
  fi
  sleep 0.1
done
[ -n "$MERIDIAN_PORT" ] || { echo "meridian-dns did not start:"; cat "$WORK/meridian.out"; exit 1; }
dig @127.0.0.1 -p "$NSD_PORT" +time=1 +tries=1 +short global.example.com SOA | grep -q ns1 \
  || { echo "nsd did not start:"; cat "$WORK/nsd.out" "$WORK/nsd.log" 2> /dev/null; exit 1; }
if has_knot; then
  for _ in $(seq 50); do
    dig @127.0.0.1 -p "$KNOT_PORT" +time=1 +tries=1 +short global.example.com SOA 2> /dev/null | grep -q ns1 && break
    sleep 0.1
  done
  dig @127.0.0.1 -p "$KNOT_PORT" +time=1 +tries=1 +short global.example.com SOA | grep -q ns1 \
    || { echo "knotd did not start:"; cat "$WORK/knot.out" "$WORK/knot.log" 2> /dev/null; exit 1; }
fi

# Both must give the same answers to the query mix before they are compared.
for q in "web.global.example.com A" "www.global.example.com A" "info.global.example.com TXT" \
         "_http._tcp.web.global.example.com SRV" "nope.global.example.com A"; do
  # shellcheck disable=SC2086
  a=$(dig @127.0.0.1 -p "$NSD_PORT" +short $q | sort); b=$(dig @127.0.0.1 -p "$MERIDIAN_PORT" +short $q | sort)
  [ "$a" = "$b" ] || { echo "answers differ for $q: nsd=[$a] meridian=[$b]"; exit 1; }
  if has_knot; then
    # shellcheck disable=SC2086
    k=$(dig @127.0.0.1 -p "$KNOT_PORT" +short $q | sort)
    [ "$a" = "$k" ] || { echo "answers differ for $q: nsd=[$a] knot=[$k]"; exit 1; }
  fi
done

DNSPERF_COMMON=(-s 127.0.0.1 -c 8 -q 100 -t 2)
# Sums over several dnsperf outputs: QPS = completed / run time, average latency weighted.
qps() { awk '/Queries completed:/{q+=$3} /Run time \(s\):/{t+=$4} END {if (t > 0) printf "%.0f", q / t; else print 0}' "$@"; }
# load_qps SERVER: the latency phase's offered total, load plus probe running side by side.
load_qps() {
  awk -v s="$1" 'FILENAME ~ /\.load\./ && /Run time \(s\):/{t+=$4} /Queries completed:/{q+=$3}
    END {if (t > 0) printf "%.0f", q / t; else print 0}' "$WORK/$1".load.* "$WORK/$1".lat.*
}
lost() { awk '/Queries lost:/{l+=$3} END {print l + 0}' "$@"; }
avg_ms() {
  awk '/Queries completed:/{q=$3} /Average Latency \(s\):/{s+=$4*q; n+=q} END {if (n > 0) printf "%.3f", s / n * 1000; else print "n/a"}' "$@"
}
# pct P FILES...: the P-th percentile (ms) of dnsperf -v per-query latencies ("> NOERROR name type 0.000123").
pct() {
  local p=$1; shift
  awk '/^> /{print $NF}' "$@" | sort -g | awk -v p="$p" '{v[NR]=$1} END {
    if (NR == 0) { print "n/a"; exit }
    i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.3f", v[i] * 1000 }'
}
# CPU time (clock ticks, user + system) of a server: the process and all its descendants (the
# NSD we start becomes xfrd, which forks "main", which forks the server processes). On a shared
# machine this is steadier than QPS: what a query costs the server.
descendants() {
  local p
  for p in $(pgrep -P "$1" || true); do echo "$p"; descendants "$p"; done
}
cpu_ticks() {
  local pid total=0 p
  case "$1" in nsd) pid=$NSD_PID ;; knot) pid=$KNOT_PID ;; *) pid=$MERIDIAN_PID ;; esac
  for p in $pid $(descendants "$pid"); do
    # Fields after "(comm)", which may contain spaces ("nsd: server 1"): utime and stime are 12, 13.
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" 2> /dev/null | awk '{print $12 + $13}' || echo 0)))
  done
  echo "$total"
}
port_of() { case "$1" in nsd) echo "$NSD_PORT" ;; knot) echo "$KNOT_PORT" ;; *) echo "$MERIDIAN_PORT" ;; esac; }

HALF=$(( SECS / 2 > 0 ? SECS / 2 : 1 ))
echo "dnsperf_vs_nsd: threads=$THREADS, nice ${DNS_BENCH_NICE:-0}, pin ${DNS_BENCH_PIN:-0}, nsd port $NSD_PORT, meridian port $MERIDIAN_PORT${KNOT_PORT:+, knot port $KNOT_PORT}, load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
echo "  versions: $("$NSD" -v 2>&1 | head -1)${KNOT_PORT:+; $("$KNOTD" --version | head -1)}"
echo "  throughput: dnsperf ${DNSPERF_COMMON[*]} -p PORT -d queries.txt -l $HALF, rounds ${ORDER[*]}"
echo "    (8 names: A x2, CNAME->A, AAAA, TXT, SRV, NXDOMAIN, NODATA)"
round=0
declare -A TICKS=([nsd]=0 [meridian]=0 [knot]=0)
for s in "${ORDER[@]}"; do
  round=$((round + 1))
  before=$(cpu_ticks $s)
  "${NICE[@]}" "${CLIENT_CPU[@]}" dnsperf "${DNSPERF_COMMON[@]}" -p "$(port_of $s)" -d "$WORK/queries.txt" -l "$HALF" > "$WORK/$s.tput.$round" 2>&1
  TICKS[$s]=$(( TICKS[$s] + $(cpu_ticks $s) - before ))
done
HZ=$(getconf CLK_TCK)
# us_per_query SERVER: server CPU microseconds per completed query in the throughput runs.
us_per_query() {
  awk -v t="${TICKS[$1]}" -v hz="$HZ" '/Queries completed:/{q+=$3} END {if (q > 0) printf "%.1f", t / hz * 1e6 / q; else print "n/a"}' "$WORK/$1".tput.*
}
NSD_QPS=$(qps "$WORK"/nsd.tput.*)
M_QPS=$(qps "$WORK"/meridian.tput.*)
# DNS_BENCH_LATENCY_PERCENT=50 measures latency at that share of NSD's max QPS instead (the floor
# is at 100 %; a lower share shows how much of the tail is the machine running out of CPU).
LAT_PCT=${DNS_BENCH_LATENCY_PERCENT:-100}
RATE=$(( NSD_QPS * LAT_PCT / 100 ))

LAT_SECS=$(( SECS / 4 > 0 ? SECS / 4 : 1 ))
PROBE_QPS=1000
LOAD_QPS=$(( RATE > PROBE_QPS ? RATE - PROBE_QPS : 1 ))
echo "  latency at $LAT_PCT % of NSD's QPS ($RATE): rounds ${ORDER[*]}, each $LAT_SECS s of"
echo "    load:  dnsperf ${DNSPERF_COMMON[*]} -p PORT -d queries.txt -l $LAT_SECS -Q $LOAD_QPS"
echo "    probe: dnsperf -s 127.0.0.1 -c 1 -q 10 -t 2 -p PORT -d queries.txt -l $LAT_SECS -Q $PROBE_QPS -v   (same time)"
echo "    p50/p99 from the probe's per-query latencies (dnsperf 2.10 prints no percentiles; -v on the"
echo "    whole load would slow dnsperf itself more than the servers)"
round=0
for s in "${ORDER[@]}"; do
  round=$((round + 1))
  "${NICE[@]}" "${CLIENT_CPU[@]}" dnsperf "${DNSPERF_COMMON[@]}" -p "$(port_of $s)" -d "$WORK/queries.txt" -l "$LAT_SECS" -Q "$LOAD_QPS" \
    > "$WORK/$s.load.$round" 2>&1 &
  load_pid=$!
  "${NICE[@]}" "${CLIENT_CPU[@]}" dnsperf -s 127.0.0.1 -c 1 -q 10 -t 2 -p "$(port_of $s)" -d "$WORK/queries.txt" -l "$LAT_SECS" \
    -Q "$PROBE_QPS" -v > "$WORK/$s.lat.$round" 2>&1
  wait "$load_pid"
done

# Geo with ECS (family 1, /24, 81.2.3.0): Meridian only, NSD has no equivalent.
echo "  geo: dnsperf ${DNSPERF_COMMON[*]} -p PORT -d geo-queries.txt -l $LAT_SECS -E 8:00011800510203"
"${NICE[@]}" "${CLIENT_CPU[@]}" dnsperf "${DNSPERF_COMMON[@]}" -p "$MERIDIAN_PORT" -d "$WORK/geo-queries.txt" -l "$LAT_SECS" -E 8:00011800510203 \
  > "$WORK/geo.tput.1" 2>&1

printf '\n%-18s %10s %6s %8s %8s | %10s %8s %8s %6s\n' server "max QPS" lost "avg ms" "cpu us/q" "at QPS" \
  p50_ms p99_ms lost
for s in "${SERVERS[@]}"; do
  printf '%-18s %10s %6s %8s %8s | %10s %8s %8s %6s\n' "$s" "$(qps "$WORK/$s".tput.*)" "$(lost "$WORK/$s".tput.*)" \
    "$(avg_ms "$WORK/$s".tput.*)" "$(us_per_query $s)" "$(load_qps "$s")" "$(pct 50 "$WORK/$s".lat.*)" "$(pct 99 "$WORK/$s".lat.*)" \
    "$(lost "$WORK/$s".load.* "$WORK/$s".lat.*)"
done
printf '%-18s %10s %6s %8s\n' "meridian geo+ECS" "$(qps "$WORK"/geo.tput.1)" "$(lost "$WORK"/geo.tput.1)" \
  "$(avg_ms "$WORK"/geo.tput.1)"
RATIO=$(awk -v a="$M_QPS" -v b="$NSD_QPS" 'BEGIN { printf "%.2f", a / b }')
P99=$(pct 99 "$WORK"/meridian.lat.*)
echo
echo "ratio meridian/nsd QPS: $RATIO; server CPU per query: nsd $(us_per_query nsd) us, meridian $(us_per_query meridian) us"
if has_knot; then
  K_QPS=$(qps "$WORK"/knot.tput.*)
  echo "ratio meridian/knot QPS: $(awk -v a="$M_QPS" -v b="$K_QPS" 'BEGIN { printf "%.2f", a / b }'); server CPU per query: knot $(us_per_query knot) us"
fi
awk -v r="$RATIO" -v p="$P99" -v pct="$LAT_PCT" 'BEGIN {
  printf "floor QPS >= peer: %s; floor p99 < 1 ms at %s%% of the peer QPS: %s (%s ms)%s\n",
    (r >= 1.0 ? "PASS" : "FAIL"), pct, (p != "n/a" && p + 0 < 1.0 ? "PASS" : "FAIL"), p,
    (pct == 100 ? "" : " (the floor itself is at 100%)") }'
