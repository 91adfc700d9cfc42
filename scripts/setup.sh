#!/usr/bin/env bash
# Installs the Debian packages Meridian needs to build, test and run its demo.
# Idempotent: installs only what is missing, and runs `apt-get update` at most once.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config git
  lld  # CI links with it: ~7x less CPU per link than ld.bfd
  # libraries (see README "Fixed choices")
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libcpprest-dev libyaml-cpp-dev libboost-dev libboost-system-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libcli11-dev libsqlite3-dev libssl-dev
  zlib1g-dev  # gzip for REST responses (apimachinery/rest/content_encoding.h)
  prometheus-cpp-dev  # /metrics (observability/): only its core library is linked
  libjemalloc-dev  # the servers' allocator (CMake MERIDIAN_JEMALLOC)
  # tests and benches
  libgtest-dev libgmock-dev libbenchmark-dev clang libfuzzer-14-dev
  prometheus  # promtool: the metrics tests check the exposition and examples/monitoring's rules;
              # the server: the rollout e2e starts one for the prometheus gate
  bind9-dnsutils dnsperf nsd sqlite3 curl python3 procps
  libexpat1-dev  # the drill SVG chart is checked for well-formed XML
  tzdata  # game days read IANA time zones from /usr/share/zoneinfo
  chromium  # the drill HTML report and the web console are tested in a real headless browser
  nodejs  # drives chromium for the console's browser test (test/e2e/console/, no npm packages)
  libnss3-tools openssl  # certutil/pk12util give chromium a client certificate (console sign-in test)
  etcd-server etcd-client  # the etcd Store backend: tests start their own etcd; etcdctl for backups
  # a real kube-apiserver for the real-member e2e test (scripts/build-kube-apiserver.sh)
  golang-go golang-github-modern-go-reflect2-dev dpkg-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# etcd-server and prometheus are installed for their binaries (tests start their own on free
# loopback ports); on a machine running systemd their packages also enable and start a
# system service on fixed ports. Stop and disable those we just installed, never one that
# was there before.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  for p in "${missing[@]}"; do
    case "$p" in
      etcd-server) unit=etcd ;;
      prometheus) unit=prometheus ;;
      *) continue ;;
    esac
    $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
