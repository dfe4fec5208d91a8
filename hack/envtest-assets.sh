#!/usr/bin/env bash
# Builds the real control plane used by tests and the dev cluster, from source, into
# bin/k8s/<version>/: kube-apiserver, kube-controller-manager, kubectl (from k8s.io/kubernetes) and
# etcd (from go.etcd.io/etcd/server/v3). With --node it also builds what the dev cluster's node
# runs (`hack/dev-cluster.sh up --node`): kube-scheduler, kube-proxy and the kubelet, from the same
# k8s.io/kubernetes module. setup-envtest cannot download binaries on machines that only
# reach the Go module proxy, so this is how KUBEBUILDER_ASSETS gets filled. Binaries already present
# are skipped; the Go build cache makes a rebuild after `rm` take seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
out=${ENVTEST_ASSETS_DIR:-$root/bin/k8s/$KUBE_VERSION}
mkdir -p "$out"
export CGO_ENABLED=0

major=${KUBE_VERSION#v}; major=${major%%.*}
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
build_date=$(date -u -d "@${SOURCE_DATE_EPOCH:-0}" +%Y-%m-%dT%H:%M:%SZ)
ldflags=""
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

build() { # name, module dir, package
  local name=$1 dir=$2 pkg=$3
  if [ -x "$out/$name" ]; then echo "envtest-assets: $name present"; return; fi
  local start=$SECONDS
  echo "envtest-assets: building $name ..."
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  echo "envtest-assets: $name built in $((SECONDS - start))s"
}

build etcd "$root/hack/etcd" go.etcd.io/etcd/server/v3
build kubectl "$root/hack/kube" k8s.io/kubernetes/cmd/kubectl
build kube-controller-manager "$root/hack/kube" k8s.io/kubernetes/cmd/kube-controller-manager
build kube-apiserver "$root/hack/kube" k8s.io/kubernetes/cmd/kube-apiserver
if [ "${1:-}" = --node ]; then
  build kube-scheduler "$root/hack/kube" k8s.io/kubernetes/cmd/kube-scheduler
  build kube-proxy "$root/hack/kube" k8s.io/kubernetes/cmd/kube-proxy
  build kubelet "$root/hack/kube" k8s.io/kubernetes/cmd/kubelet
fi
echo "envtest-assets: $out ready"
