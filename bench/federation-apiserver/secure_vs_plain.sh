#!/usr/bin/env bash
# What security costs, in one run: GET by name against two federation-apiservers started side
# by side on loopback (same build, fresh SQLite files, --controllers none):
#   plain  = HTTP, no authentication, AlwaysAllow, no audit log (the development setup);
#   secure = TLS 1.2+ with the PKI of `fedctl admin init`, --token-auth-file and
#            --client-ca-file, --authorization-mode RBAC with 1,000 RoleBindings in the
#            namespace read, and an audit log at Metadata for every request (rotated at 100 MB)
#            written in --audit-log-mode batch;
#   blocking = the same with --audit-log-mode blocking (kube-apiserver's default), measured
#            with the token, to show what a synchronous write per request costs.
# The measured user is not system:masters (that group skips RBAC): it is bench-reader (token)
# or bench-cert (client certificate), both in group team-7, which 10 of the 1,000 bindings
# make `edit` in namespace bench. Each round runs plain, secure with the token, secure with
# the certificate, one after the other (so background load hits all three alike); the figures
# are medians over the rounds, and the ratio is taken per round before its median.
#   bench/federation-apiserver/secure_vs_plain.sh [ROUNDS] [SECONDS_PER_PHASE]
# BENCH_NICE=-20 runs both servers and the load generator at that niceness (root only), so
# other engineers' builds on a shared machine take less of their CPU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
seconds=${2:-5}
./scripts/build.sh federation-apiserver fedctl bench_api >/dev/null
dir=$(mktemp -d)
nice=${BENCH_NICE:+nice -n $BENCH_NICE}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"' EXIT

build/bin/fedctl admin init --dir "$dir/pki" --host 127.0.0.1 >/dev/null
admin_token=$(cut -d, -f1 "$dir/pki/tokens.csv")
reader_token=$(openssl rand -hex 16)
{ cat "$dir/pki/tokens.csv"; echo "$reader_token,bench-reader,u-bench,team-7"; } >"$dir/tokens.csv"
# A client certificate for a user that is not system:masters (CN = user, O = group).
openssl ecparam -name prime256v1 -genkey -noout -out "$dir/bench.key" 2>/dev/null
openssl req -new -key "$dir/bench.key" -subj "/CN=bench-cert/O=team-7" -out "$dir/bench.csr"
printf 'extendedKeyUsage=clientAuth\n' >"$dir/ext"
openssl x509 -req -in "$dir/bench.csr" -CA "$dir/pki/ca.crt" -CAkey "$dir/pki/ca.key" \
  -CAcreateserial -days 1 -extfile "$dir/ext" -out "$dir/bench.crt" 2>/dev/null

start() {  # NAME ARGS...: starts a server, sets $url and $pid
  local name=$1
  shift
  $nice build/bin/federation-apiserver --listen 127.0.0.1:0 --storage "sqlite:$dir/$name.db" \
    --controllers none --log-level warn "$@" >"$dir/$name.out" 2>&1 &
  pid=$!
  pids+=($pid)
  for _ in $(seq 1 100); do grep -q "listening on" "$dir/$name.out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'https\?://127.0.0.1:[0-9]*' "$dir/$name.out" | head -1)
  [ -n "$url" ] || { cat "$dir/$name.out" >&2; exit 1; }
}
start plain
plain_url=$url
plain_pid=$pid
secure_flags=(--tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key"
  --client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/tokens.csv"
  --authorization-mode RBAC --audit-log-maxsize 100 --audit-log-maxbackup 1)
start secure "${secure_flags[@]}" --audit-log-path "$dir/audit.log" --audit-log-mode batch
secure_url=$url
secure_pid=$pid
start blocking "${secure_flags[@]}" --audit-log-path "$dir/audit-blocking.log" --audit-log-mode blocking
blocking_url=$url
blocking_pid=$pid
echo "plain  at $plain_url"
echo "secure at $secure_url ($(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg), nice ${BENCH_NICE:-0})"

tls=(--cacert "$dir/pki/ca.crt" --admin-token "$admin_token" --bindings 1000)
for r in $(seq 1 "$rounds"); do
  $nice build/bin/bench_api --server "$plain_url" --phases get --seconds "$seconds" --server-pid "$plain_pid" |
    sed "s/^/round $r plain /" | tee -a "$dir/results"
  $nice build/bin/bench_api --server "$secure_url" --phases get --seconds "$seconds" "${tls[@]}" \
    --server-pid "$secure_pid" --token "$reader_token" | sed "s/^/round $r token /" | tee -a "$dir/results"
  $nice build/bin/bench_api --server "$secure_url" --phases get --seconds "$seconds" "${tls[@]}" \
    --server-pid "$secure_pid" --cert "$dir/bench.crt" --key "$dir/bench.key" | sed "s/^/round $r cert /" | tee -a "$dir/results"
  $nice build/bin/bench_api --server "$blocking_url" --phases get --seconds "$seconds" "${tls[@]}" \
    --server-pid "$blocking_pid" --token "$reader_token" | sed "s/^/round $r blocking /" | tee -a "$dir/results"
done
audit_lines=$(cat "$dir"/audit*.log* | grep -c '"stage":"ResponseComplete"' || true)
echo "audit log: $audit_lines ResponseComplete lines; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$dir/results" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"round (\d+) (\w+) (.*?)\s+(-?[\d.]+) (\S+)$", line.strip())
    if m:
        rows.setdefault((m[2], m[3]), {})[int(m[1])] = float(m[4])
def med(mode, name):
    v = list(rows.get((mode, name), {}).values())
    return statistics.median(v) if v else float("nan")
tput = "GET by name (8 connections) throughput"
p99 = "GET by name at 1000 req/s offered p99"
print(f"\nmedians over {len(rows.get(('plain', tput), {}))} rounds:")
modes = ("plain", "token", "cert", "blocking")
print(f"{'':38} {'plain':>10} {'TLS+token':>10} {'TLS+cert':>10} {'token,blk':>10}")
for name in (tput, "GET by name (8 connections) p99 (closed loop)",
             "GET by name (8 connections) server CPU per request",
             "GET by name at 1000 req/s offered p50", p99):
    print(f"{name:38.38} " + " ".join(f"{med(m, name):10.1f}" for m in modes))
for mode in modes[1:]:
    ratios = [rows[(mode, tput)][r] / rows[("plain", tput)][r]
              for r in rows.get((mode, tput), {}) if r in rows.get(("plain", tput), {})]
    print(f"secure ({mode}) / plain throughput, per round: " +
          ", ".join(f"{x:.2f}" for x in ratios) + f"; median {statistics.median(ratios):.2f}")
EOF
