#!/usr/bin/env bash
# Durable namespaced creates/s (ConfigMaps in one namespace) on a fresh 3-member etcd, 8
# closed-loop clients for SECONDS s, each BINARY (a federation-apiserver, --controllers none)
# in turn, ROUNDS interleaved rounds. Needs no bench build (the client is Python's
# http.client: ~0.2 ms per request against ~20 ms per create). Run it under run_quiet.py:
#   python3 bench/run_quiet.py bench/federation-apiserver/namespaced_creates.sh 3 10 A B ...
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/federation-apiserver/etcd_cluster.sh
rounds=$1; secs=$2; shift 2
for r in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    dir=$(mktemp -d); pids=()
    start_etcd_cluster "$dir"
    "$bin" --listen 127.0.0.1:0 --storage "$etcd_storage" --controllers none --log-level warn > "$dir/out" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 200); do grep -q "listening on" "$dir/out" 2>/dev/null && break; sleep 0.1; done
    url=$(grep -o "http://[0-9.:]*" "$dir/out" | head -1)
    rate=$(python3 - "$url" "$secs" <<'PY'
import http.client, json, sys, threading, time, urllib.parse
url, secs = sys.argv[1], float(sys.argv[2])
u = urllib.parse.urlparse(url)
def conn(): return http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c = conn()
c.request("POST", "/api/v1/namespaces", json.dumps({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}), {"Content-Type":"application/json"})
c.getresponse().read()
done = [0]*8; stop = time.time() + secs
def client(i):
    c = conn(); n = 0
    while time.time() < stop:
        body = json.dumps({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":f"c{i}-{n}"},"data":{"k":"v"}})
        c.request("POST", "/api/v1/namespaces/bench/configmaps", body, {"Content-Type":"application/json"})
        r = c.getresponse(); r.read()
        if r.status == 201: done[i] += 1
        n += 1
ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print(f"{sum(done)/secs:.0f}")
PY
)
    echo "round $r $(basename "$bin"): $rate creates/s"
    kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true
    rm -rf "$dir"
  done
done
