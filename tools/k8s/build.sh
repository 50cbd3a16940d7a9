#!/usr/bin/env bash
# build.sh builds the loopback Kubernetes control plane that integration/kube starts:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok (and, with
# --with-keda, the KEDA operator), from the Go module proxy, through the wrapper modules beside
# this script. No container engine is involved.
#
# Binaries land in <repo>/.tools/<component>-<version>/bin/, the version read from the wrapper's
# go.mod, so bumping a version there makes the next run build the new one while an unchanged
# version costs only the existence checks. A binary is built into a temporary directory and then
# moved into place, so an interrupted build never leaves a truncated binary behind.
#
# Usage: tools/k8s/build.sh [--with-keda]
# Cold build on 2 cores: ~8 min for Kubernetes, ~1.5 min for etcd + kwok, ~7 min for KEDA
# (about 4 GB of Go build cache). Cache .tools/ (or GOMODCACHE + GOCACHE) in CI.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
with_keda=0
for arg in "$@"; do
  case "$arg" in
    --with-keda) with_keda=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (accepted: --with-keda)" >&2; exit 2 ;;
  esac
done

# The wrapper modules are standalone: keep a go.work elsewhere from pulling them in.
export GOWORK=off

# modver MODULE_DIR MODULE_PATH prints the version MODULE_DIR/go.mod requires of MODULE_PATH.
modver() {
  local v
  v=$(awk -v m="$2" '$1 == "require" && $2 == m { print $3; exit } $1 == m && $2 ~ /^v/ { print $2; exit }' "$1/go.mod")
  if [ -z "$v" ]; then echo "build.sh: $1/go.mod does not require $2" >&2; exit 1; fi
  echo "$v"
}

# build NAME OUT_DIR MODULE_DIR LDFLAGS BINARY=PACKAGE... builds each PACKAGE's command into
# OUT_DIR/BINARY unless every BINARY is already there.
build() {
  local name=$1 out=$2 mod=$3 ldflags=$4; shift 4
  local missing=0 spec tmp start
  for spec in "$@"; do [ -x "$out/${spec%%=*}" ] || missing=1; done
  if [ "$missing" = 0 ]; then echo "build.sh: $name up to date in ${out#"$root"/}"; return; fi
  mkdir -p "$out"
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  start=$(date +%s)
  echo "build.sh: building $name into ${out#"$root"/} ..."
  for spec in "$@"; do
    (cd "$mod" && nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$tmp/${spec%%=*}" "${spec#*=}") ||
      { rm -rf "$tmp"; exit 1; }
  done
  for spec in "$@"; do mv -f "$tmp/${spec%%=*}" "$out/"; done
  rm -rf "$tmp"
  echo "build.sh: built $name in $(( $(date +%s) - start ))s"
}

kv=$(modver "$here/kube" k8s.io/kubernetes)
minor=$(echo "$kv" | cut -d. -f2)
kube_ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $p.gitVersion=$kv -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
build "kubernetes $kv" "$root/.tools/k8s-$kv/bin" "$here/kube" "$kube_ldflags" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
  kubectl=k8s.io/kubernetes/cmd/kubectl

ev=$(modver "$here/etcd" go.etcd.io/etcd/server/v3)
build "etcd $ev" "$root/.tools/etcd-$ev/bin" "$here/etcd" "-s -w" etcd=go.etcd.io/etcd/server/v3

wv=$(modver "$here/kwok" sigs.k8s.io/kwok)
build "kwok $wv" "$root/.tools/kwok-$wv/bin" "$here/kwok" "-s -w" kwok=sigs.k8s.io/kwok/cmd/kwok

if [ "$with_keda" = 1 ]; then
  dv=$(modver "$here/keda" github.com/kedacore/keda/v2)
  build "keda operator $dv" "$root/.tools/keda-$dv/bin" "$here/keda" "-s -w" \
    keda-operator=github.com/kedacore/keda/v2/cmd/operator
fi
