#!/usr/bin/env bash
# `make demo`: start the dev cluster, install the CRDs, apply the sample portfolio and show what
# kubectl sees.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
assets=${KUBEBUILDER_ASSETS:-$root/bin/k8s/$KUBE_VERSION}
kubeconfig=$root/bin/dev-cluster/kubeconfig
kubectl() { "$assets/kubectl" --kubeconfig="$kubeconfig" "$@"; }

"$root/hack/dev-cluster.sh" up
kubectl apply -f "$root/config/samples/"
echo
echo "== kubectl get promptfolio -A"
kubectl get promptfolio -A
echo
echo "== kubectl explain promptportfolio.spec.evolution (first lines)"
kubectl explain promptportfolio.spec.evolution | head -20
cat <<MSG

The dev cluster is running. Use it with:
  export KUBECONFIG=$kubeconfig PATH=$assets:\$PATH
  kubectl get promptfolio -A
  kubectl get promptarms
Stop it with: make dev-cluster-down
MSG
