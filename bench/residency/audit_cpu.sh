#!/usr/bin/env bash
# Steady-state CPU of the residency audit (issue 14): federation-apiserver running only the
# residency-audit controller against MEMBERS membersim members holding OBJECTS audited objects
# each, idle (nothing changes), measured from /proc as the process's user+system CPU over
# WINDOW seconds after the audit's first full scan. Not run in CI.
#
#   bench/residency/audit_cpu.sh [MEMBERS (100)] [OBJECTS per member (1000)] [WINDOW s (60)]
#
# The fleet: half the members EU (region eu-a), half US (region us-a); ResidencyPolicies
# payments-eu-only (namespace payments, eu) and orders-us-only (namespace orders, us). An EU
# member holds OBJECTS PersistentVolumeClaims in payments, a US member OBJECTS in orders
# (compliant), and one US member also one in payments (one open violation), so every scan
# reads every object and reports one violation. Binaries: $MERIDIAN_BIN_DIR (default
# build/bin); federation-apiserver from $APISERVER (default $MERIDIAN_BIN_DIR/...), so two
# builds can be compared (the polling audit before watch-driven: any build before it).
# Prints: the time from the policies' creation to their first Compliant status (the first full
# scan, as seen by polling the API every 0.1 s), and the CPU share (1.0 = one core) of the
# federation-apiserver and of membersim (serving the audit's lists or watches) over the window. Stops what it started (by pid).
set -euo pipefail
cd "$(dirname "$0")/../.."
MEMBERS=${1:-100}
OBJECTS=${2:-1000}
WINDOW=${3:-60}
BIN=${MERIDIAN_BIN_DIR:-build/bin}
APISERVER=${APISERVER:-$BIN/federation-apiserver}
OUT=$(mktemp -d /tmp/audit-cpu.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $OUT" >&2 || rm -rf "$OUT"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port)
wait_for() {  # URL
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "not up: $1" >&2
  exit 1
}

python3 - "$MEMBERS" > "$OUT/members.yaml" <<'EOF'
import sys
n = int(sys.argv[1])
print("defaults:\n  node: {cpu: '4', memory: 16Gi, pods: 110}\nclusters:")
for i in range(n):
    j = "eu" if i % 2 == 0 else "us"
    print(f"  - name: {j}-{i}\n    region: {j}-a\n    jurisdiction: {j}\n    zones:\n      - {{name: {j}-a-1, nodes: 1}}")
EOF
"$BIN/membersim" --config "$OUT/members.yaml" --listen 127.0.0.1:0 > "$OUT/membersim.out" 2> "$OUT/membersim.log" &
pids+=($!) && SIM_PID=$!
for _ in $(seq 1 300); do grep -q "listening on" "$OUT/membersim.out" 2>/dev/null && break; sleep 0.2; done
SIM=$(head -1 "$OUT/membersim.out" | sed 's/.*listening on //')
"$APISERVER" --listen "127.0.0.1:$API_PORT" --storage "sqlite:$OUT/federation.db" \
  --controllers residency-audit > "$OUT/apiserver.log" 2>&1 &
pids+=($!) && API_PID=$!
wait_for "http://127.0.0.1:$API_PORT/readyz"

# Members, their objects, then the policies (so the first scan is timed from their creation).
python3 - "$MEMBERS" "$OBJECTS" "$SIM" "http://127.0.0.1:$API_PORT" <<'EOF'
import http.client, json, sys, urllib.parse
n, per, sim, api = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
conns = {}
def post(base, path, obj):
    u = urllib.parse.urlparse(base)
    c = conns.get(u.netloc)
    if c is None:
        c = conns[u.netloc] = http.client.HTTPConnection(u.hostname, u.port)
    c.request("POST", u.path + path, json.dumps(obj), {"Content-Type": "application/json"})
    r = c.getresponse(); body = r.read()
    if r.status not in (200, 201, 409):
        sys.exit(f"POST {base}{path}: {r.status} {body[:300]}")
G = "/apis/federation.meridian.io/v1alpha1"
post(api, G + "/topologies", {"apiVersion": "federation.meridian.io/v1alpha1", "kind": "Topology",
     "metadata": {"name": "default"}, "spec": {"regions": [
         {"name": "eu-a", "jurisdiction": "eu", "zones": ["eu-a-1"]},
         {"name": "us-a", "jurisdiction": "us", "zones": ["us-a-1"]}]}})
for ns in ("payments", "orders"):
    post(api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
for i in range(n):
    j = "eu" if i % 2 == 0 else "us"
    name = f"{j}-{i}"
    post(api, G + "/memberclusters", {"apiVersion": "federation.meridian.io/v1alpha1",
         "kind": "MemberCluster", "metadata": {"name": name},
         "spec": {"server": f"{sim}/clusters/{name}", "region": f"{j}-a", "zones": [f"{j}-a-1"],
                  "jurisdiction": j}})
    base = f"{sim}/clusters/{name}"
    ns = "payments" if j == "eu" else "orders"
    post(base, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    pvc = lambda k, where: {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"data-{k}", "namespace": where, "labels": {"app": f"app-{k % 50}"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    for k in range(per):
        post(base, f"/api/v1/namespaces/{ns}/persistentvolumeclaims", pvc(k, ns))
    if i == 1:
        post(base, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})
        post(base, "/api/v1/namespaces/payments/persistentvolumeclaims", pvc(0, "payments"))
EOF
START=$(date +%s.%N)
echo "policies at $(date -u +%T.%N)" >&2
python3 - "http://127.0.0.1:$API_PORT" <<'EOF'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
for name, ns, j in (("payments-eu-only", "payments", "eu"), ("orders-us-only", "orders", "us")):
    c.request("POST", "/apis/federation.meridian.io/v1alpha1/residencypolicies", json.dumps({
        "apiVersion": "federation.meridian.io/v1alpha1", "kind": "ResidencyPolicy",
        "metadata": {"name": name}, "spec": {"namespaces": [ns], "jurisdictions": [j]}}),
        {"Content-Type": "application/json"})
    r = c.getresponse(); body = r.read()
    if r.status not in (200, 201):
        sys.exit(f"policy {name}: {r.status} {body[:300]}")
EOF
# The first full scan is done when both policies carry a Compliant condition.
for _ in $(seq 1 3000); do
  n=$(curl -fsS "http://127.0.0.1:$API_PORT/apis/federation.meridian.io/v1alpha1/residencypolicies" |
      python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["items"] if any(c["type"]=="Compliant" for c in p.get("status",{}).get("conditions",[]))))')
  [ "$n" = 2 ] && break
  sleep 0.1
done
SCANNED=$(date +%s.%N)
sleep 5  # let the first scan's writes settle
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
T0=$(ticks "$API_PID") S0=$(ticks "$SIM_PID") W0=$(date +%s.%N)
sleep "$WINDOW"
T1=$(ticks "$API_PID") S1=$(ticks "$SIM_PID") W1=$(date +%s.%N)
python3 - "$START" "$SCANNED" "$T0" "$T1" "$W0" "$W1" "$HZ" "$MEMBERS" "$OBJECTS" "$APISERVER" \
  "$S0" "$S1" <<'EOF'
import sys
start, scanned, t0, t1, w0, w1, hz = map(float, sys.argv[1:8])
s0, s1 = map(float, sys.argv[11:13])
print(f"{sys.argv[10]}: {sys.argv[8]} members x {sys.argv[9]} objects: first full scan "
      f"{scanned - start:.1f} s after the policies; steady state {(t1 - t0) / hz / (w1 - w0):.3f} "
      f"cores ({(t1 - t0) / hz:.2f} s CPU in {w1 - w0:.0f} s); membersim serving it "
      f"{(s1 - s0) / hz / (w1 - w0):.3f} cores")
EOF
