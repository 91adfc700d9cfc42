#!/usr/bin/env bash
# The residency audit (issue 14) with real processes: federation-apiserver running only the
# residency-audit controller against MEMBERS membersim members holding OBJECTS audited objects
# each. Per run: the first full scan's wall time, the steady-state CPU (idle: nothing changes)
# of the federation-apiserver and of membersim from /proc over WINDOW seconds, their peak RSS,
# and the time from one object created in a disallowed member to its violation being reported.
# Not run in CI.
#
#   bench/residency/audit_cpu.sh [MEMBERS (100)] [OBJECTS per member (1000)] [WINDOW s (60)]
#   env: KINDS=pvc|mix (pvc), RUNS=N (1), NICE=-20 (none), MERIDIAN_BIN_DIR, APISERVER, KEEP=1
#
# The fleet: half the members EU (region eu-a), half US (region us-a); ResidencyPolicies
# payments-eu-only (namespace payments, eu) and orders-us-only (namespace orders, us). An EU
# member holds OBJECTS objects in payments, a US member OBJECTS in orders (compliant), and the
# first US member also one PVC in payments (one open violation), so every scan reads every
# object and reports one violation. The objects are seeded by membersim at start-up from its
# config (membersim/seed.h: the same ObjectService path as API creates, in seconds; creating a
# million through the HTTP API takes ~20 min). KINDS=pvc: all PersistentVolumeClaims;
# KINDS=mix: of the kinds the audit reads, 70 % PVCs, 10 % suspended Jobs, 5 % bare Pods (bound
# and Running), 5 % StatefulSets and 5 % Deployments at 0 replicas (membersim's Deployment
# controller adds their ReplicaSets: the other 5 %).
# The change: a Deployment created through membersim's API in payments of that US member; the
# time until payments-eu-only's status counts it (polled every 20 ms).
# NICE (e.g. -20) runs both processes under `nice -n NICE` (needs root). Binaries:
# $MERIDIAN_BIN_DIR (default build/bin); federation-apiserver from $APISERVER (default
# $MERIDIAN_BIN_DIR/...), so two builds can be compared (the polling audit before
# watch-driven: any build before it). Prints one line per run, then medians and ranges.
# Stops what it started (by pid).
set -euo pipefail
cd "$(dirname "$0")/../.."
MEMBERS=${1:-100}
OBJECTS=${2:-1000}
WINDOW=${3:-60}
KINDS=${KINDS:-pvc}
RUNS=${RUNS:-1}
BIN=${MERIDIAN_BIN_DIR:-build/bin}
APISERVER=${APISERVER:-$BIN/federation-apiserver}
NICE_CMD=()
[ -n "${NICE:-}" ] && NICE_CMD=(nice -n "$NICE")
case "$KINDS" in pvc | mix) ;; *) echo "KINDS must be pvc or mix, not $KINDS" >&2; exit 2 ;; esac
OUT=$(mktemp -d /tmp/audit-cpu.XXXXXX)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  [ -n "${KEEP:-}" ] && echo "kept $OUT" >&2 || rm -rf "$OUT"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # URL
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "not up: $1" >&2
  exit 1
}
sim_list_count() {  # SIM_URL -> LISTs (pages) membersim has served so far, all members
  curl -fsS "$1/admin/status" | python3 -c 'import json, sys; print(sum(c["apiReads"]["list"] for c in json.load(sys.stdin)["clusters"]))'
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_mib() { awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

# membersim's config: the members and the objects each one is seeded with.
python3 - "$MEMBERS" "$OBJECTS" "$KINDS" > "$OUT/members.yaml" <<'EOF'
import sys
n, per, kinds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pvc = "{spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}"
pod = "{restartPolicy: Never, containers: [{name: run, image: busybox}]}"
def seeds(ns, total):
    if kinds == "pvc":
        mix = [("v1", "PersistentVolumeClaim", "data", total, pvc)]
    else:
        twentieth = total // 20
        def workloads(app, extra=""):  # each its own selector ({i} is expanded in fields too)
            return (f"{{spec: {{replicas: 0, selector: {{matchLabels: {{app: \"{app}-{{i}}\"}}}}, template: "
                    f"{{metadata: {{labels: {{app: \"{app}-{{i}}\"}}}}, spec: {{containers: [{{name: c, image: busybox}}]}}}}{extra}}}}}")
        mix = [("v1", "PersistentVolumeClaim", "data", total - 6 * twentieth, pvc),
               ("batch/v1", "Job", "batch", 2 * twentieth, f"{{spec: {{suspend: true, template: {{spec: {pod}}}}}}}"),
               ("v1", "Pod", "worker", twentieth, f"{{spec: {pod}}}"),
               ("apps/v1", "StatefulSet", "db", twentieth, workloads("db", ", serviceName: db")),
               ("apps/v1", "Deployment", "web", twentieth, workloads("web"))]
    out = ""
    for api_version, kind, prefix, count, fields in mix:
        out += (f"      - apiVersion: {api_version}\n        kind: {kind}\n        namespace: {ns}\n"
                f"        count: {count}\n        name: {prefix}-{{i}}\n        labels: {{app: \"app-{{i}}\"}}\n"
                f"        fields: {fields}\n")
    return out
print(f"defaults:\n  node: {{cpu: '64', memory: 256Gi, pods: {max(110, per)}}}\nclusters:")
for i in range(n):
    j = "eu" if i % 2 == 0 else "us"
    print(f"  - name: {j}-{i}\n    region: {j}-a\n    jurisdiction: {j}\n    zones:\n      - {{name: {j}-a-1, nodes: 1}}")
    print("    seed:\n" + seeds("payments" if j == "eu" else "orders", per), end="")
    if i == 1:  # the open violation
        print(f"      - {{apiVersion: v1, kind: PersistentVolumeClaim, namespace: payments, count: 1, "
              f"name: data-0, fields: {pvc}}}")
EOF

run_once() {  # RUN -> one JSON line on stdout
  local run=$1 api_port sim sim_pid api_pid start scanned t0 t1 s0 s1 w0 w1 l0 l1 sim_rss api_rss seeded
  api_port=$(free_port)
  local sim_t0
  sim_t0=$(date +%s.%N)
  "${NICE_CMD[@]}" "$BIN/membersim" --config "$OUT/members.yaml" --listen 127.0.0.1:0 \
    > "$OUT/membersim.out" 2> "$OUT/membersim.log" &
  pids+=($!) && sim_pid=$!
  for _ in $(seq 1 3000); do grep -q "listening on" "$OUT/membersim.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "listening on" "$OUT/membersim.out" || { echo "membersim did not start:" >&2; cat "$OUT/membersim.log" >&2; exit 1; }
  seeded=$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$sim_t0" "$(date +%s.%N)")
  sim=$(head -1 "$OUT/membersim.out" | sed 's/.*listening on //')
  "${NICE_CMD[@]}" "$APISERVER" --listen "127.0.0.1:$api_port" --storage "sqlite:$OUT/federation-$run.db" \
    --controllers residency-audit > "$OUT/apiserver.log" 2>&1 &
  pids+=($!) && api_pid=$!
  wait_for "http://127.0.0.1:$api_port/readyz"

  # Members, then the policies (so the first scan is timed from their creation).
  python3 - "$MEMBERS" "$sim" "http://127.0.0.1:$api_port" <<'EOF'
import http.client, json, sys, urllib.parse
n, sim, api = int(sys.argv[1]), sys.argv[2], sys.argv[3]
u = urllib.parse.urlparse(api)
c = http.client.HTTPConnection(u.hostname, u.port)
def post(path, obj):
    c.request("POST", path, json.dumps(obj), {"Content-Type": "application/json"})
    r = c.getresponse(); body = r.read()
    if r.status not in (200, 201, 409):
        sys.exit(f"POST {path}: {r.status} {body[:300]}")
G = "/apis/federation.meridian.io/v1alpha1"
post(G + "/topologies", {"apiVersion": "federation.meridian.io/v1alpha1", "kind": "Topology",
     "metadata": {"name": "default"}, "spec": {"regions": [
         {"name": "eu-a", "jurisdiction": "eu", "zones": ["eu-a-1"]},
         {"name": "us-a", "jurisdiction": "us", "zones": ["us-a-1"]}]}})
for ns in ("payments", "orders"):
    post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
for i in range(n):
    j = "eu" if i % 2 == 0 else "us"
    post(G + "/memberclusters", {"apiVersion": "federation.meridian.io/v1alpha1",
         "kind": "MemberCluster", "metadata": {"name": f"{j}-{i}"},
         "spec": {"server": f"{sim}/clusters/{j}-{i}", "region": f"{j}-a", "zones": [f"{j}-a-1"],
                  "jurisdiction": j}})
EOF
  start=$(date +%s.%N)
  python3 - "http://127.0.0.1:$api_port" <<'EOF'
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
  # The first full scan is done when both policies report on every member verified, the open
  # violation counted (polled every 0.1 s; up to 30 min).
  python3 - "http://127.0.0.1:$api_port" 1 18000 <<'EOF'
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); want, tries = int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection(u.hostname, u.port)
for _ in range(tries):
    c.request("GET", "/apis/federation.meridian.io/v1alpha1/residencypolicies")
    items = json.loads(c.getresponse().read())["items"]
    st = {p["metadata"]["name"]: p.get("status", {}) for p in items}
    if len(st) == 2 and all(any(x["type"] == "Compliant" for x in s.get("conditions", [])) and
                            s.get("unverifiedMembers", 0) == 0 for s in st.values()) \
            and st["payments-eu-only"].get("violations", 0) == want:
        sys.exit(0)
    time.sleep(0.1)
sys.exit("the first scan did not finish: " + json.dumps(st)[:2000])
EOF
  scanned=$(date +%s.%N)
  sleep 5  # let the first scan's writes settle
  l0=$(sim_list_count "$sim")
  t0=$(ticks "$api_pid") s0=$(ticks "$sim_pid") w0=$(date +%s.%N)
  sleep "$WINDOW"
  t1=$(ticks "$api_pid") s1=$(ticks "$sim_pid") w1=$(date +%s.%N)
  l1=$(sim_list_count "$sim")

  # The change: one Deployment in payments of a US member; time until the audit counts it.
  local intruder
  intruder=$(python3 - "$sim/clusters/us-1" "http://127.0.0.1:$api_port" <<'EOF'
import http.client, json, sys, time, urllib.parse
sim, api = (urllib.parse.urlparse(x) for x in sys.argv[1:3])
s = http.client.HTTPConnection(sim.hostname, sim.port)
a = http.client.HTTPConnection(api.hostname, api.port)
d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "intruder", "labels": {"app": "intruder"}},
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "intruder"}},
              "template": {"metadata": {"labels": {"app": "intruder"}},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
s.request("POST", sim.path + "/apis/apps/v1/namespaces/payments/deployments", json.dumps(d),
          {"Content-Type": "application/json"})
r = s.getresponse(); body = r.read()
if r.status != 201:
    sys.exit(f"intruder: {r.status} {body[:300]}")
created = time.monotonic()
while time.monotonic() - created < 60:
    a.request("GET", "/apis/federation.meridian.io/v1alpha1/residencypolicies/payments-eu-only")
    p = json.loads(a.getresponse().read())
    if p.get("status", {}).get("violations", 0) >= 2:  # its Pod and ReplicaSet may count too
        print(f"{time.monotonic() - created:.3f}")
        sys.exit(0)
    time.sleep(0.02)
sys.exit("the intruder was not reported within 60 s")
EOF
)
  sim_rss=$(peak_rss_mib "$sim_pid") api_rss=$(peak_rss_mib "$api_pid")
  # What the members served over the whole run (lists count pages): totals, and the most any
  # one member served, so that relisting shows as lists growing past one listing of the fleet.
  local reads
  reads=$(curl -fsS "$sim/admin/status" | python3 -c '
import json, sys
cs = json.load(sys.stdin)["clusters"]
l = [c["apiReads"]["list"] for c in cs]; w = [c["apiReads"]["watch"] for c in cs]
print(json.dumps({"sim_lists": sum(l), "sim_lists_max": max(l), "sim_watches": sum(w), "sim_watches_max": max(w)}))')
  [ -n "${KEEP:-}" ] && curl -fsS "$sim/admin/status" > "$OUT/membersim-status-$run.json"
  python3 - <<EOF
import json
print(json.dumps({"run": $run, "seeded_s": round($seeded, 1), "scan_s": round($scanned - $start, 1),
  "api_cores": round(($t1 - $t0) / $HZ / ($w1 - $w0), 3), "sim_cores": round(($s1 - $s0) / $HZ / ($w1 - $w0), 3),
  "api_rss_mib": $api_rss, "sim_rss_mib": $sim_rss, "violation_s": $intruder,
  **json.loads('$reads'), "sim_lists_in_window": $l1 - $l0, "load": open("/proc/loadavg").read().split()[0]}))
EOF
  stop_all
}

echo "$MEMBERS members x $OBJECTS objects ($KINDS), window ${WINDOW}s, $RUNS run(s), nice ${NICE:-0}; $(uptime)" >&2
: > "$OUT/runs.jsonl"
for run in $(seq 1 "$RUNS"); do
  run_once "$run" | tee -a "$OUT/runs.jsonl"
done
echo "after: $(uptime)" >&2
python3 - "$OUT/runs.jsonl" "$APISERVER" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(f"{sys.argv[2]}: {len(runs)} run(s), median [range]:")
for key, what in (("seeded_s", "membersim start-up with seeding (s)"),
                  ("scan_s", "first full scan after the policies (s)"),
                  ("api_cores", "federation-apiserver steady state (cores)"),
                  ("sim_cores", "membersim serving the audit (cores)"),
                  ("api_rss_mib", "federation-apiserver peak RSS (MiB)"),
                  ("sim_rss_mib", "membersim peak RSS (MiB)"),
                  ("violation_s", "new violation reported after (s)")):
    v = [r[key] for r in runs]
    print(f"  {what}: {statistics.median(v):g} [{min(v):g} .. {max(v):g}]")
EOF
