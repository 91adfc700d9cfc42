#!/usr/bin/env bash
# The demo federation: installs what is missing, builds, starts membersim with five simulated
# member clusters on three continents and the federation-apiserver on its embedded SQLite
# store, joins the members with `fedctl join` (each member demands its own bearer token),
# everything over TLS with the PKI `fedctl admin init` writes (the admin kubeconfig is printed),
# with RBAC, an audit log and Secrets encrypted at rest,
# applies the three-continents example, and shows the three things Meridian is for: one
# workload on three continents (with a global DNS name answering by client location), an
# EU-resident workload that stays in the EU even when an EU region fails (what-if, a
# simulated failover drill and a short live drill show it), and how to run more drills.
#
#   ./scripts/demo.sh            # runs until Ctrl-C, so you can use kubectl / fedctl against it
#   DEMO_EXIT=1 ./scripts/demo.sh   # shows the result and stops everything (used by the e2e test)
#
# Ports: MERIDIAN_PORT (federation API, default 8443), MEMBERSIM_PORT (default 18080),
# MERIDIAN_DNS_PORT (the federation's DNS, UDP+TCP, default 8053).
set -euo pipefail
cd "$(dirname "$0")/.."
API_PORT=${MERIDIAN_PORT:-8443}
SIM_PORT=${MEMBERSIM_PORT:-18080}
DNS_PORT=${MERIDIAN_DNS_PORT:-8053}
STATE_DIR=${MERIDIAN_DEMO_DIR:-.meridian/demo}

if [ -z "${MERIDIAN_SKIP_BUILD:-}" ]; then
  ./scripts/setup.sh
  ./scripts/build.sh federation-apiserver membersim fedctl
fi
BIN=${MERIDIAN_BUILD_DIR:-build}/bin
SERVER=https://127.0.0.1:$API_PORT
MEMBERS_URL=https://127.0.0.1:$SIM_PORT
PKI=$STATE_DIR/pki

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
    if curl -fsS --cacert "$PKI/ca.crt" -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: $url did not come up; see $log" >&2
  tail -20 "$log" >&2
  exit 1
}

# Each simulated member gets its own random bearer token, as a real cluster's service account
# would: membersim's config (a copy of examples/topology-3-continents.yaml with
# `auth: {token}` per cluster) demands it, and `fedctl join` is handed it in a file.
MEMBERS=(us-east-1 us-west-1 eu-west-1 eu-central-1 ap-south-1)
mkdir -p "$STATE_DIR/tokens"
for m in "${MEMBERS[@]}"; do
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE_DIR/tokens/$m"
done
chmod 700 "$STATE_DIR/tokens" && chmod 600 "$STATE_DIR/tokens/"*  # credentials: owner only
awk -v dir="$STATE_DIR/tokens" '
  { print }
  /^  - name: / {
    f = dir "/" $3; getline token < f; close(f)
    print "    auth: {token: " token "}"
  }' examples/topology-3-continents.yaml > "$STATE_DIR/topology.yaml"

# A CA, the API server's certificate (SANs localhost and 127.0.0.1), an admin client
# certificate and the admin kubeconfig, all 0600.
echo "== fedctl admin init: the federation's PKI in $PKI"
"$BIN/fedctl" admin init --dir "$PKI" --host 127.0.0.1 --server "$SERVER" > /dev/null

# The simulated members serve HTTPS too, so kubectl sends them a token. They run on the same
# 127.0.0.1, so the demo lets them borrow the API server's certificate.
echo "== starting membersim (5 clusters, 3 continents) on $MEMBERS_URL"
"$BIN/membersim" --config "$STATE_DIR/topology.yaml" --listen "127.0.0.1:$SIM_PORT" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  > "$STATE_DIR/membersim.log" 2>&1 &
pids+=($!)
wait_for "$MEMBERS_URL/admin/status" "$STATE_DIR/membersim.log"

# Member credentials (Secrets) are encrypted at rest with a key made here, as kube-apiserver's
# EncryptionConfiguration does it (0600, like the PKI).
(umask 077 && cat > "$STATE_DIR/encryption.yaml" <<ENC
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm:
          keys:
            - name: key1
              secret: $(head -c 32 /dev/urandom | base64 -w0)
      - identity: {}
ENC
)

echo "== starting federation-apiserver on $SERVER (SQLite store in $STATE_DIR; RBAC, audit log,"
echo "   Secrets encrypted at rest)"
"$BIN/federation-apiserver" --listen "127.0.0.1:$API_PORT" --storage "sqlite:$STATE_DIR/federation.db" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" \
  --authorization-mode RBAC --audit-log-path "$STATE_DIR/audit.log" \
  --encryption-provider-config "$STATE_DIR/encryption.yaml" \
  --dns-listen "127.0.0.1:$DNS_PORT" --dns-zone global.example.com \
  --dns-client-regions examples/dns/client-regions.yaml \
  --evidence-signing-key-file "$PKI/evidence-signing.key" \
  --evidence-public-key-file "$PKI/evidence-signing.key" \
  > "$STATE_DIR/apiserver.log" 2>&1 &
pids+=($!)
wait_for "$SERVER/readyz" "$STATE_DIR/apiserver.log"

export KUBECONFIG=$PKI/admin.kubeconfig
FEDCTL=("$BIN/fedctl")
echo "== the topology, then joining the member clusters (each checked with its token first)"
"${FEDCTL[@]}" apply -f examples/three-continents/topology.yaml
# name region zones jurisdiction continent
while read -r name region zones jurisdiction continent; do
  "${FEDCTL[@]}" join "$name" --member-url "$MEMBERS_URL/clusters/$name" \
    --certificate-authority "$PKI/ca.crt" \
    --token-file "$STATE_DIR/tokens/$name" --region "$region" --zones "$zones" \
    --jurisdiction "$jurisdiction" --label tier=prod --label "continent=$continent"
done <<'TABLE'
us-east-1    us-east    us-east-1a,us-east-1b,us-east-1c          us  north-america
us-west-1    us-west    us-west-1a,us-west-1b                     us  north-america
eu-west-1    eu-west    eu-west-1a,eu-west-1b,eu-west-1c          eu  europe
eu-central-1 eu-central eu-central-1a,eu-central-1b               eu  europe
ap-south-1   ap-south   ap-south-1a,ap-south-1b                   in  asia
TABLE

echo "== applying the three-continents workload (30 replicas, NA:EU:AS = 5:3:2)"
"${FEDCTL[@]}" apply -f examples/three-continents/workload.yaml
"${FEDCTL[@]}" apply -f examples/dns/web-service.yaml

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
echo "== where the 30 replicas go, and why; what each member runs; what happened"
"${FEDCTL[@]}" describe fw web -n shop | sed -n '/^Placement:/,$p'
echo
echo "== member by member, as the members themselves report it"
for m in "${MEMBERS[@]}"; do
  deploy=$(curl -fsS --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(cat "$STATE_DIR/tokens/$m")" \
    "$MEMBERS_URL/clusters/$m/apis/apps/v1/namespaces/shop/deployments/web")
  ready=$(printf '%s' "$deploy" | grep -o '"readyReplicas":[0-9]*' | head -1 | cut -d: -f2)
  printf '%-13s deployment shop/web: %s replicas ready\n' "$m" "${ready:-0}"
done
echo
echo "== a member's own view: eu-west-1's nodes and their zones"
curl -fsS --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(cat "$STATE_DIR/tokens/eu-west-1")" \
  "$MEMBERS_URL/clusters/eu-west-1/api/v1/nodes" |
  grep -o '"name":"[a-z0-9-]*-node-[0-9]*"' | cut -d'"' -f4 | sort -u |
  sed 's/^\(.*\)-node-[0-9]*$/&   zone \1/'

echo
echo "== one global name: web.global.example.com, answered by the federation's DNS on 127.0.0.1:$DNS_PORT"
# The DNS controller answers with the members' LoadBalancer addresses (examples/dns/web-service.yaml), only
# where web has ready replicas; geo picks the region nearest the client's subnet.
dns_ready=""
for _ in $(seq 1 100); do
  if [ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" web.global.example.com +subnet=81.2.3.0/24 2>/dev/null)" ]; then
    dns_ready=yes
    break
  fi
  sleep 0.1
done
[ -n "$dns_ready" ] || echo "demo: the DNS did not answer web.global.example.com within 10 s (see $STATE_DIR/apiserver.log)"
"${FEDCTL[@]}" dns records
for client in "Paris 81.2.3.0/24" "Virginia 3.4.5.0/24" "Mumbai 103.1.2.0/24"; do
  set -- $client
  printf 'a client in %-9s (subnet %-13s) gets web.global.example.com -> %s\n' "$1" "$2" \
    "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" web.global.example.com +subnet="$2" | tr '\n' ' ')"
done

echo
echo "== EU data residency: payments/ledger may only run in the EU (ResidencyPolicy payments-eu-only)"
"${FEDCTL[@]}" apply -f examples/eu-residency/
ledger_ready=""
for _ in $(seq 1 300); do
  if "${FEDCTL[@]}" describe fw ledger -n payments 2>/dev/null | grep -q "12 of 12 replicas ready"; then
    ledger_ready=yes
    break
  fi
  sleep 0.2
done
[ -n "$ledger_ready" ] || echo "demo: ledger's 12 replicas were not ready within 60 s (see fedctl describe fw ledger -n payments)"
"${FEDCTL[@]}" get fw ledger -n payments
echo
echo "== what if region eu-west failed? (fedctl what-if: computed, nothing changes)"
"${FEDCTL[@]}" what-if --fail region=eu-west
echo
echo "== a failover drill rehearsing the loss of eu-west (simulate: nothing changes)"
drill=$("${FEDCTL[@]}" drill run --target region=eu-west --mode simulate --name demo-eu-west)
for _ in $(seq 1 50); do
  if "${FEDCTL[@]}" drill status "$drill" 2>/dev/null | grep -q "^Completed"; then break; fi
  sleep 0.1
done
"${FEDCTL[@]}" drill report "$drill"
echo
echo "== the same drill, live: placement treats eu-west as lost for 8 s, then gives it back"
echo "   (nothing is broken for real: eu-west keeps its replicas until their replacements are"
echo "   ready elsewhere, so the rehearsal costs no availability; the replicas return after the"
echo "   workloads' recoveryDelaySeconds, 60 s, one step at a time)"
live=$("${FEDCTL[@]}" drill run --target region=eu-west --mode live --duration 8s \
  --abort-below 90% --slo 99% --observe-return 0 --name demo-eu-west-live)
"${FEDCTL[@]}" drill status -w "$live" | tail -n 1
"${FEDCTL[@]}" drill report "$live" --svg "$STATE_DIR/demo-eu-west-live.svg"
echo
echo "== the compliance report from the residency evidence ledger (where payments ran, by jurisdiction)"
"${FEDCTL[@]}" residency verify --public-key "$PKI/evidence-signing.pub" || true
"${FEDCTL[@]}" residency report --since 1h --namespace payments \
  --public-key "$PKI/evidence-signing.pub" ||
  echo "(no residency report: see fedctl residency verify)"

cat <<MSG

The demo federation is running.
  export KUBECONFIG=$(cd "$PKI" && pwd)/admin.kubeconfig   # $SERVER over TLS, as admin
  fedctl:  $BIN/fedctl get fw -A
  kubectl: kubectl get federatedworkloads -A
  DNS:     dig @127.0.0.1 -p $DNS_PORT web.global.example.com +subnet=81.2.3.0/24
  drills:  $BIN/fedctl drill run --target zone=eu-west-1a --mode live \\
             --duration 60s --abort-below 80% --inject-fault
           $BIN/fedctl drill status -w NAME; ... drill report NAME --svg drill.svg
  failure: $BIN/membersim ctl --server $MEMBERS_URL --certificate-authority $PKI/ca.crt \\
             fail-region us-east
  members: kubectl --server $MEMBERS_URL/clusters/NAME --certificate-authority $PKI/ca.crt \\
             --token "\$(cat $STATE_DIR/tokens/NAME)" get deployments -A
           (each member demands its own token; they are in $STATE_DIR/tokens/)
  RBAC:    kubectl auth can-i create residencypolicies   # yes: admin is in system:masters
  console: $SERVER/console/   (the browser must trust $PKI/ca.crt, or accept the warning)
           sign in with the admin token: $(cut -d, -f1 "$PKI/tokens.csv")
  audit:   $STATE_DIR/audit.log (one audit.k8s.io/v1 Event per request)
Logs in $STATE_DIR/.
MSG

if [ -n "${DEMO_EXIT:-}" ]; then exit 0; fi
echo "Press Ctrl-C to stop."
wait
