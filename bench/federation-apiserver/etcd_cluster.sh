# Sourced by the bench scripts: start_etcd_cluster DIR starts a 3-member etcd (Debian's
# etcd-server) on free loopback ports with data under DIR, waits until every member serves,
# appends the pids to the caller's `pids` array and sets `etcd_storage` to the
# --storage etcd:URL,URL,URL value. etcd_storage_first leader|follower then puts the raft
# leader's URL (or a follower's) first: the store sends its calls to the first endpoint, and a
# linearizable read on a follower costs it a ReadIndex round trip to the leader.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_etcd_cluster() {
  local dir=$1 cports=() pports=() initial="" i
  for i in 0 1 2; do
    cports+=("$(free_port)"); pports+=("$(free_port)")
    initial+="${initial:+,}m$i=http://127.0.0.1:${pports[$i]}"
  done
  for i in 0 1 2; do
    /usr/bin/etcd --name "m$i" --data-dir "$dir/m$i" \
      --listen-client-urls "http://127.0.0.1:${cports[$i]}" --advertise-client-urls "http://127.0.0.1:${cports[$i]}" \
      --listen-peer-urls "http://127.0.0.1:${pports[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pports[$i]}" \
      --initial-cluster "$initial" --initial-cluster-state new --logger zap --log-outputs stderr \
      2> "$dir/etcd$i.log" &
    pids+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 1 200); do grep -q "serving client traffic" "$dir/etcd$i.log" && break; sleep 0.1; done
  done
  etcd_storage="etcd:http://127.0.0.1:${cports[0]},http://127.0.0.1:${cports[1]},http://127.0.0.1:${cports[2]}"
}
etcd_storage_first() {
  local want=$1 urls
  urls=${etcd_storage#etcd:}
  etcd_storage="etcd:$(ETCDCTL_API=3 etcdctl --endpoints="$urls" endpoint status -w json |
    python3 -c '
import json, sys
want = sys.argv[1]
rows = json.load(sys.stdin)
leader = [r["Endpoint"] for r in rows if r["Status"]["header"]["member_id"] == r["Status"]["leader"]]
others = [r["Endpoint"] for r in rows if r["Endpoint"] not in leader]
print(",".join(leader + others if want == "leader" else others + leader))' "$want")"
}
