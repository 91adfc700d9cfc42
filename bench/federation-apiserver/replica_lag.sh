#!/usr/bin/env bash
# Watch propagation between two federation-apiserver replicas on one etcd cluster: starts a
# 3-member etcd (free loopback ports, temp data dirs) and two replicas (--controllers none),
# opens a watch on Namespaces on replica B, then creates N Namespaces one at a time on
# replica A and reports, for each, the time from sending the create to A until B's watch
# delivers the ADDED event (and from A's acknowledgement to B's event). Prints medians/p99.
#   bench/federation-apiserver/replica_lag.sh [N=100]
set -euo pipefail
cd "$(dirname "$0")/../.."
# BIN: where a federation-apiserver is already built (default: build it in build/bin).
bin=${BIN:-build/bin}
[ -z "${BIN:-}" ] && ./scripts/build.sh federation-apiserver >/dev/null
n=${1:-100}
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

source bench/federation-apiserver/etcd_cluster.sh
start_etcd_cluster "$dir"
storage=$etcd_storage
urls=()
for r in a b; do
  "$bin"/federation-apiserver --listen 127.0.0.1:0 --storage "$storage" --controllers none \
    --log-level warn > "$dir/api-$r.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q "listening on" "$dir/api-$r.out" 2>/dev/null && break; sleep 0.1; done
  urls+=("$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/api-$r.out" | head -1)")
done
echo "replica A ${urls[0]}, replica B ${urls[1]}, etcd $storage ($(nproc) cores)"

python3 - "${urls[0]}" "${urls[1]}" "$n" <<'EOF'
import http.client, json, statistics, sys, threading, time, urllib.parse
a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def conn(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c = conn(b)
c.request("GET", "/api/v1/namespaces")
rv = json.loads(c.getresponse().read())["metadata"]["resourceVersion"]
w = conn(b)
w.request("GET", "/api/v1/namespaces?watch=1&resourceVersion=" + rv)
resp = w.getresponse()
seen, cv = {}, threading.Condition()
def reader():
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            ev = json.loads(line)
            name = ev["object"]["metadata"]["name"]
            with cv:
                seen[name] = time.monotonic()
                cv.notify_all()
threading.Thread(target=reader, daemon=True).start()
wc = conn(a)
from_send, from_ack = [], []
tag = str(int(time.time()))
for i in range(n):
    name = f"lag-{tag}-{i}"
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    t0 = time.monotonic()
    wc.request("POST", "/api/v1/namespaces", body, {"Content-Type": "application/json"})
    r = wc.getresponse(); r.read()
    t1 = time.monotonic()
    assert r.status == 201, r.status
    with cv:
        if not cv.wait_for(lambda: name in seen, timeout=10):
            sys.exit(f"replica B never saw {name}")
        t2 = seen[name]
    from_send.append((t2 - t0) * 1000)
    from_ack.append(max(0.0, t2 - t1) * 1000)
def q(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))]
print(f"{n} creates on A, each seen by a watch on B:")
print(f"  send on A -> event on B: median {statistics.median(from_send):.1f} ms, p99 {q(from_send, .99):.1f} ms")
print(f"  ack from A -> event on B: median {statistics.median(from_ack):.1f} ms, p99 {q(from_ack, .99):.1f} ms")
EOF
