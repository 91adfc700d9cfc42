#!/usr/bin/env bash
# The demo federation: installs what is missing, builds, starts membersim with five simulated
# member clusters on three continents and the federation-apiserver on its embedded SQLite
# store, registers the members, applies the three-continents example, and shows the result.
#
#   ./scripts/demo.sh            # runs until Ctrl-C, so you can use kubectl / fedctl against it
#   DEMO_EXIT=1 ./scripts/demo.sh   # shows the result and stops everything (used by the e2e test)
#
# Ports: MERIDIAN_PORT (federation API, default 8443), MEMBERSIM_PORT (default 18080; the
# example MemberClusters point there).
set -euo pipefail
cd "$(dirname "$0")/.."
API_PORT=${MERIDIAN_PORT:-8443}
SIM_PORT=${MEMBERSIM_PORT:-18080}
STATE_DIR=${MERIDIAN_DEMO_DIR:-.meridian/demo}

if [ -z "${MERIDIAN_SKIP_BUILD:-}" ]; then
  ./scripts/setup.sh
  ./scripts/build.sh federation-apiserver membersim fedctl
fi
BIN=${MERIDIAN_BUILD_DIR:-build}/bin
SERVER=http://127.0.0.1:$API_PORT

rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Waits until URL answers, or fails naming the log to read.
wait_for() {
  local url=$1 log=$2
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: $url did not come up; see $log" >&2
  tail -20 "$log" >&2
  exit 1
}

echo "== starting membersim (5 clusters, 3 continents) on 127.0.0.1:$SIM_PORT"
"$BIN/membersim" --config examples/topology-3-continents.yaml --listen "127.0.0.1:$SIM_PORT" \
  > "$STATE_DIR/membersim.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$SIM_PORT/clusters/eu-west-1/readyz" "$STATE_DIR/membersim.log"

echo "== starting federation-apiserver on $SERVER (SQLite store in $STATE_DIR)"
"$BIN/federation-apiserver" --listen "127.0.0.1:$API_PORT" --storage "sqlite:$STATE_DIR/federation.db" \
  > "$STATE_DIR/apiserver.log" 2>&1 &
pids+=($!)
wait_for "$SERVER/readyz" "$STATE_DIR/apiserver.log"

FEDCTL=("$BIN/fedctl" --server "$SERVER")
echo "== registering member clusters and the topology"
sed "s|127.0.0.1:18080|127.0.0.1:$SIM_PORT|" examples/three-continents/members.yaml > "$STATE_DIR/members.yaml"
"${FEDCTL[@]}" apply -f examples/three-continents/topology.yaml
"${FEDCTL[@]}" apply -f "$STATE_DIR/members.yaml"

echo "== applying the three-continents workload (30 replicas, NA:EU:AS = 5:3:2)"
"${FEDCTL[@]}" apply -f examples/three-continents/workload.yaml

# Inside the federation-apiserver, the placement controller divides the replicas, the
# propagation controller creates the Deployments in the members, and membersim's pods turn
# Ready after 2 s. Wait (at most 60 s) until every replica is ready.
echo "== waiting for 30 replicas to be ready in the members"
ready=""
for _ in $(seq 1 300); do
  if "${FEDCTL[@]}" describe fw web -n shop 2>/dev/null | grep -q "30 of 30 replicas ready"; then
    ready=yes
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || echo "demo: not all replicas became ready within 60 s (see fedctl describe fw web -n shop)"

echo
echo "== member clusters"
"${FEDCTL[@]}" get memberclusters
echo
echo "== federated workloads"
"${FEDCTL[@]}" get federatedworkloads -A
echo
echo "== where the 30 replicas go, and why; what each member runs"
"${FEDCTL[@]}" describe fw web -n shop | sed -n '/^Placement:/,$p'
echo
echo "== a member cluster, as kubectl sees it"
if command -v kubectl >/dev/null; then
  kubectl --server "http://127.0.0.1:$SIM_PORT/clusters/eu-west-1" get nodes -L topology.kubernetes.io/zone
  kubectl --server "http://127.0.0.1:$SIM_PORT/clusters/eu-west-1" get deploy -n shop
else
  curl -fsS "http://127.0.0.1:$SIM_PORT/clusters/eu-west-1/api/v1/nodes" | head -c 400; echo
fi

cat <<MSG

The demo federation is running.
  fedctl:  $BIN/fedctl --server $SERVER get fw -A
  kubectl: kubectl --server $SERVER get federatedworkloads -A
  members: kubectl --server http://127.0.0.1:$SIM_PORT/clusters/<name> get deploy -A
Logs in $STATE_DIR/.
MSG

if [ -n "${DEMO_EXIT:-}" ]; then exit 0; fi
echo "Press Ctrl-C to stop."
wait
