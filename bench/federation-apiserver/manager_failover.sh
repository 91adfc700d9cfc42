#!/usr/bin/env bash
# Controller-manager leader failover (issue 13): a 3-member etcd (free loopback ports, temp
# data dirs), one federation-apiserver on it (--controllers member-schemas, as in the HA
# layout) and two federation-controller-managers with the default leader-election flags
# (4s/3s/1s). Each run kill -9s the manager holding the Lease and times, from the kill, until
# the Lease names the other one: the takeover is the new leader's first write (its
# controllers start right after it). The killed one is restarted as the standby before the
# next run. Prints each run and the median. Bounded: N runs, each given at most 30 s.
# SIGNAL=TERM sends SIGTERM instead (the planned handover: the leader stops its controllers,
# releases the Lease and exits; the standby takes it at its next retry) and times the same.
#   bench/federation-apiserver/manager_failover.sh [N=10]
#   SIGNAL=TERM bench/federation-apiserver/manager_failover.sh 10
#   MANAGER_FLAGS="--leader-elect-lease-duration 15s --leader-elect-renew-deadline 10s \
#     --leader-elect-retry-period 2s" bench/federation-apiserver/manager_failover.sh 3
#                                       # other election flags (here client-go's defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${MERIDIAN_BUILD_DIR:-build}
./scripts/build.sh federation-apiserver federation-controller-manager >/dev/null
n=${1:-10}
signal=${SIGNAL:-KILL}
dir=$(mktemp -d)
pids=()
declare -A mgr=()
cleanup() {
  for p in "${pids[@]}" "${mgr[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

source bench/federation-apiserver/etcd_cluster.sh
start_etcd_cluster "$dir"
"$BUILD/bin/federation-apiserver" --listen 127.0.0.1:0 --storage "$etcd_storage" \
  --controllers member-schemas --log-level warn >"$dir/api.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$dir/api.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/api.out" | head -1)
lease="$url/apis/coordination.k8s.io/v1/namespaces/meridian-system/leases/federation-controller-manager"

start_manager() {  # identity
  "$BUILD/bin/federation-controller-manager" --storage "$etcd_storage" \
    --leader-elect-identity "$1" --log-level warn ${MANAGER_FLAGS:-} >>"$dir/manager-$1.log" 2>&1 &
  mgr[$1]=$!
}
# The Lease's holder (one curl, no interpreter: the poll below is what the figure's resolution
# depends on).
holder() {
  local body
  body=$(curl -fsS --max-time 2 "$lease" 2>/dev/null) || return 0
  body=${body#*\"holderIdentity\":\"}
  [ "$body" != "${body%%\"*}" ] && echo "${body%%\"*}"
  return 0
}

start_manager a
for _ in $(seq 1 300); do [ "$(holder)" = a ] && break; sleep 0.05; done
start_manager b
sleep 3  # b is a standby that has seen the lease renewed
echo "apiserver $url, etcd $etcd_storage ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"

times=()
for run in $(seq 1 "$n"); do
  leader=$(holder)
  case "$leader" in a) standby=b ;; b) standby=a ;; *) echo "no leader before run $run" >&2; exit 1 ;; esac
  start=$(date +%s%N)
  kill -s "$signal" "${mgr[$leader]}"
  [ "$signal" = KILL ] && { wait "${mgr[$leader]}" 2>/dev/null || true; }
  took=""
  while [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 30000 ]; do
    if [ "$(holder)" = "$standby" ]; then took=$(( ($(date +%s%N) - start) / 1000000 )); break; fi
    sleep 0.02
  done
  [ -n "$took" ] || { echo "run $run: $standby did not take over within 30 s" >&2; exit 1; }
  # SIGTERM: it exits by itself (given 30 s, then killed and reported).
  for _ in $(seq 1 300); do kill -0 "${mgr[$leader]}" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "${mgr[$leader]}" 2>/dev/null; then
    echo "run $run: $leader still running 30 s after SIG$signal; killed" >&2
    kill -9 "${mgr[$leader]}"
  fi
  wait "${mgr[$leader]}" 2>/dev/null || true
  echo "run $run: SIG$signal $leader -> $standby holds the lease in $took ms"
  times+=("$took")
  start_manager "$leader"
  sleep 2  # the restarted one is a standby that has seen the lease renewed
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {
  m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
  printf "takeover over %d runs: min %d / median %d / max %d ms\n", NR, a[1], m, a[NR] }'
