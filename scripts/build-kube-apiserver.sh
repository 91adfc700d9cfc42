#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from Debian's `kubernetes` source package
# (bookworm: 1.20.2) with Debian's Go, for the tests that run Meridian against a real member API server. Everything
# comes through apt-get: the Go toolchain, Debian's reflect2, and the source package (a
# `deb-src` entry for this machine's Debian suite is added if none is configured). Nothing
# else is downloaded (GOPROXY=off, GOPATH mode with the package's vendor/ tree).
#
# Usage: scripts/build-kube-apiserver.sh [OUT_DIR]   (default: ${MERIDIAN_BUILD_DIR:-build}/kube)
# Leaves OUT_DIR/kube-apiserver, OUT_DIR/kube-controller-manager and OUT_DIR/kube-apiserver.stamp
# (source version and recipe).
# A second run with the same source version is instant; delete OUT_DIR to force a rebuild.
# A cold build of kube-apiserver costs ~9.5 CPU-minutes (Go compiling ~2,000 packages): about
# 5 min on two idle cores; measured 7.5 min and 21 min on a 2-core machine shared with builds
# at load 4.5 and 10. kube-controller-manager adds about a fifth of that (its own packages:
# 388 s after kube-apiserver's 1,845 s, both at load ~15-20). It needs ~2 GB of scratch space under OUT_DIR/work, removed afterwards.
#
# Why not Debian's own debian/rules: it builds only kubectl, through the upstream Makefile,
# which regenerates every generated file first. The steps that the 1.20 tree needs with Go
# 1.19 instead:
#   - GO111MODULE=off with the tree at $GOPATH/src/k8s.io/kubernetes (staging repos are
#     symlinked under vendor/k8s.io, which only GOPATH mode resolves);
#   - pkg/generated/openapi/zz_generated.openapi.go is not in the tarball (upstream
#     generates it at build time): run openapi-gen from vendor/ over the packages tagged
#     +k8s:openapi-gen, as Makefile.generated_files does;
#   - the vendored github.com/modern-go/reflect2 1.0.1 crashes under Go >= 1.18 (its
#     unsafe map iteration no longer matches the runtime): use Debian's 1.0.2.
set -euo pipefail

RECIPE=2  # bump when the steps below change, so cached binaries are rebuilt
cd "$(dirname "$0")/.."
OUT=${1:-${MERIDIAN_BUILD_DIR:-build}/kube}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$OUT/kube-apiserver
STAMP=$OUT/kube-apiserver.stamp
LOG=$OUT/build.log

die() {
  echo "build-kube-apiserver: error: $*" >&2
  echo "build-kube-apiserver: (to build and test without it: configure with -DMERIDIAN_REAL_KUBE=OFF)" >&2
  exit 1
}
say() { echo "build-kube-apiserver: $*"; }

# The newest `kubernetes` source version apt knows of ("" without a deb-src entry).
source_version() {
  apt-cache showsrc --only-source kubernetes 2>/dev/null | awk '/^Version:/ {print $2}' |
    sort -V | tail -n 1
}

# One build at a time per OUT (CMake and a hand run may race).
exec 9>"$OUT/.lock"
flock 9

# Fast path: a binary from this recipe, and no newer source version known to apt.
if [ -x "$BIN" ] && [ -x "$OUT/kube-controller-manager" ] && [ -f "$STAMP" ]; then
  have=$(cat "$STAMP")
  known=$(source_version)
  # Without a deb-src entry apt knows no version: any version built by this recipe will do.
  if { [ -n "$known" ] && [[ "$have" == "kubernetes $known recipe $RECIPE "* ]]; } ||
    { [ -z "$known" ] && [[ "$have" == *" recipe $RECIPE "* ]]; }; then
    exit 0
  fi
  say "cached binary is \"$have\"; rebuilding for kubernetes ${known:-?} recipe $RECIPE"
fi

# Root is needed only to install packages or add the deb-src entry.
no_sudo() { die "'$*' needs root: run as root or install sudo"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="no_sudo"; fi
fi
export DEBIAN_FRONTEND=noninteractive

# ---- 1. Tools, through apt-get ----
PACKAGES=(golang-go golang-github-modern-go-reflect2-dev dpkg-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq || die "apt-get update failed"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    die "apt-get install ${missing[*]} failed"
fi

# ---- 2. A deb-src entry for this machine's suite ----
if [ -z "$(source_version)" ]; then
  # shellcheck disable=SC1091  # /etc/os-release is not ours
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || die "/etc/os-release names no VERSION_CODENAME; add a deb-src line by hand"
  # Copy the binary entries of the Debian suite (deb822 .sources stanzas and one-line
  # sources.list entries) with their type changed to deb-src.
  entries=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    entries+=$(awk -v suite="$codename" '
      BEGIN { RS = ""; ORS = "\n\n" }
      $0 ~ "(^|\n)Types:[^\n]*deb" && $0 ~ "(^|\n)Suites:[^\n]*[ \t]" suite "([ \t]|\n|$)" {
        out = ""
        n = split($0, lines, "\n")
        for (i = 1; i <= n; i++) {
          if (lines[i] ~ /^Types:/) lines[i] = "Types: deb-src"
          if (lines[i] ~ /^#/) continue
          out = out lines[i] "\n"
        }
        printf "%s\n", out
      }' "$f")
    entries+=$'\n\n'
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    entries+=$(awk -v suite="$codename" '
      $1 == "deb" { for (i = 2; i <= NF; i++) if ($i == suite) { $1 = "deb-src"; print; next } }' "$f")
    entries+=$'\n'
  done
  if [ -z "${entries//[$'\n' ]/}" ]; then
    die "no apt entry for Debian \"$codename\" found in /etc/apt to derive a deb-src line from; add one (e.g. 'deb-src http://deb.debian.org/debian $codename main') and rerun"
  fi
  if grep -q '^Types:' <<<"$entries"; then
    target=/etc/apt/sources.list.d/meridian-deb-src.sources
  else
    target=/etc/apt/sources.list.d/meridian-deb-src.list
  fi
  say "adding deb-src entries for $codename in $target"
  printf '%s\n' "$entries" | $SUDO tee "$target" >/dev/null
  $SUDO apt-get update -qq || die "apt-get update failed after adding $target"
fi
VERSION=$(source_version)
[ -n "$VERSION" ] || die "apt knows no 'kubernetes' source package even with deb-src entries (apt-cache showsrc kubernetes is empty)"

GO=/usr/lib/go/bin/go
[ -x "$GO" ] || GO=$(command -v go) || die "no go binary after installing golang-go"
GOVERSION=$("$GO" env GOVERSION)
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -f "$REFLECT2/go_above_118.go" ] ||
  die "$REFLECT2 is not reflect2 >= 1.0.2 (no go_above_118.go); Go >= 1.18 needs it"

# ---- 3. The source ----
WORK=$OUT/work
rm -rf "$WORK"
mkdir -p "$WORK/src"
: >"$LOG"
start=$(date +%s)
say "building kube-apiserver from kubernetes $VERSION with $GOVERSION (log: $LOG)"
(cd "$WORK/src" && apt-get source -qq "kubernetes=$VERSION") >>"$LOG" 2>&1 ||
  die "apt-get source kubernetes=$VERSION failed; the end of $LOG:
$(tail -n 20 "$LOG")"
tree=$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)
if [ -z "$tree" ] || [ ! -d "$tree/vendor" ]; then
  die "the kubernetes source has no vendor/ directory (in $WORK/src)"
fi
export GOPATH=$WORK/gopath
KUBE=$GOPATH/src/k8s.io/kubernetes
mkdir -p "$(dirname "$KUBE")"
mv "$tree" "$KUBE"
rm -rf "$KUBE/vendor/github.com/modern-go/reflect2"
cp -a "$REFLECT2" "$KUBE/vendor/github.com/modern-go/reflect2"

export GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOSUMDB=off GOFLAGS="" GOCACHE=$WORK/gocache
export HOME=${HOME:-$WORK}
cd "$KUBE"

# ---- 4. zz_generated.openapi.go (Makefile.generated_files' KUBE openapi target) ----
run() {
  "$@" >>"$LOG" 2>&1 || die "'$*' failed in $KUBE; the end of $LOG:
$(tail -n 30 "$LOG")"
}
run "$GO" build -o "$WORK/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
# Directories of files with a column-0 +k8s: tag that ask for openapi-gen, with staging
# named as vendor/, minus code-generator and sample-apiserver (as the Makefile filters).
tops=()
for d in */; do
  case "$d" in vendor/ | _*) ;; *) tops+=("$d") ;; esac
done
mapfile -t dirs < <(
  grep -rlE --include='*.go' --exclude-dir=vendor '^// *\+k8s:' "${tops[@]}" |
    xargs grep -l '+k8s:openapi-gen=' | sed 's|^staging/src/|vendor/|' |
    grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
    xargs -n1 dirname | LC_ALL=C sort -u)
[ ${#dirs[@]} -gt 50 ] || die "found only ${#dirs[@]} packages tagged +k8s:openapi-gen; the source layout is not what this script expects"
inputs=$(printf 'k8s.io/kubernetes/%s,' "${dirs[@]}")
run "$WORK/openapi-gen" --logtostderr -i "${inputs%,}" -p k8s.io/kubernetes/pkg/generated/openapi \
  -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
  -r "$WORK/violations.report"
[ -s pkg/generated/openapi/zz_generated.openapi.go ] || die "openapi-gen wrote no pkg/generated/openapi/zz_generated.openapi.go"

# ---- 5. kube-apiserver, with the version the upstream build stamps (hack/lib/version.sh) ----
upstream=${VERSION#*really}
upstream=${upstream%%-*}
major=${upstream%%.*}
minor=${upstream#*.}
minor=${minor%%.*}
ldflags="-s -w"
for kv in "gitVersion=v$upstream" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=archive"; do
  for pkg in client-go/pkg/version component-base/version; do
    ldflags+=" -X k8s.io/kubernetes/vendor/k8s.io/$pkg.$kv"
  done
done
# kube-controller-manager too: its Deployment and ReplicaSet controllers write into the objects
# Meridian syncs (status, the revision annotation, ReplicaSets), which is what a member's own
# controllers do and what Meridian must not fight. The second build reuses the first's
# compiled packages (GOCACHE), so it costs what only it needs.
for cmd in kube-apiserver kube-controller-manager; do
  t0=$(date +%s)
  run "$GO" build -trimpath -ldflags "$ldflags" -o "$WORK/$cmd" "./cmd/$cmd"
  "$WORK/$cmd" --version >>"$LOG" 2>&1 || die "the built $cmd does not run; see $LOG"
  say "$cmd compiled in $(($(date +%s) - t0)) s"
done

cd /
mv "$WORK/kube-controller-manager" "$OUT/kube-controller-manager"
mv "$WORK/kube-apiserver" "$BIN"
echo "kubernetes $VERSION recipe $RECIPE $GOVERSION" >"$STAMP"
rm -rf "$WORK"
say "built $BIN ($("$BIN" --version)) in $(($(date +%s) - start)) s"
