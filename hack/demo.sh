#!/usr/bin/env bash
# `make demo`: the whole loop on one machine. Where the machine can run the dev cluster's node
# (root, containerd, runc and the CNI plugins: hack/dev-cluster.sh node-check), it runs the way
# users run promptfolio: the node, the chart installed with `helm install --wait`, the sample
# portfolio with a fast evolution schedule, and a workload Deployment of two replicas whose pods
# get the selector sidecar injected and drive it over 127.0.0.1. Elsewhere it says why in one line
# and runs the manager and one selector as local processes next to a control plane without nodes.
# Either way a simulated workload draws prompts and reports rewards while evolution cycles run,
# and the demo ends with progress tables, plots, a summary and how to reach the cluster.
#
# Environment:
#   DEMO_DURATION            how long the workload runs (default 3m)
#   DEMO_SCHEDULE            evolution schedule of the demo portfolio (default 20s)
#   DEMO_EXPECT_GENERATIONS  fail unless this many evolution generations completed (default 0)
#   DEMO_KEEP_CLUSTER        0 stops the dev cluster at the end (default 1: keep it for kubectl)
#   DEMO_LOCAL               1 runs the local-process demo even where the node could run
#   OPENAI_API_KEY           when set, mutations use an OpenAI-compatible API (OPENAI_BASE_URL,
#                            OPENAI_MODEL) instead of the offline mutator
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
assets=${KUBEBUILDER_ASSETS:-$root/bin/k8s/$KUBE_VERSION}
export KUBECONFIG=$root/bin/dev-cluster/kubeconfig
bin=$root/bin/promptfolio
run=$root/bin/demo
duration=${DEMO_DURATION:-3m}
schedule=${DEMO_SCHEDULE:-20s}
expect=${DEMO_EXPECT_GENERATIONS:-0}
ns=default
portfolio=support-reply
rates=concise=0.22,empathetic=0.42,expert=0.32,manual-bullets=0.28
HELM=${HELM:-$root/bin/helm}
kubectl() { "$assets/kubectl" "$@"; }
# shellcheck source=hack/lib.sh
. "$root/hack/lib.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }


pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "${DEMO_KEEP_CLUSTER:-1}" = 0 ]; then "$root/hack/dev-cluster.sh" down; fi
}
trap cleanup EXIT

mode=local
if [ -n "${OPENAI_API_KEY:-}" ]; then
  echo "demo: OPENAI_API_KEY is set and pods on the node cannot reach the internet: the manager and a selector run as local processes"
elif [ "${DEMO_LOCAL:-0}" != 1 ]; then
  if problem=$("$root/hack/dev-cluster.sh" node-check); then mode=node; else echo "demo: not on a node ($problem): the manager and a selector run as local processes"; fi
fi
if [ "$mode" = node ]; then
  say "Starting the dev cluster with a node (kubelet, kube-proxy, kube-scheduler, containerd; see docs/e2e.md)"
  "$root/hack/dev-cluster.sh" up --node
  say "helm install --wait: the chart with the images of make images"
  install_chart "$ns"
else
  say "Starting the dev cluster (etcd, kube-apiserver, kube-controller-manager on loopback)"
  "$root/hack/dev-cluster.sh" up
fi
mkdir -p "$run"

say "Applying the sample portfolio, with evolution every $schedule for the demo"
kubectl apply -f "$root/config/samples/"
mutator='{"provider":"Offline","instructions":"Keep answers friendly and short."}'
if [ -n "${OPENAI_API_KEY:-}" ]; then
  kubectl -n "$ns" create secret generic demo-openai --from-literal=api-key="$OPENAI_API_KEY" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  mutator=$(printf '{"provider":"OpenAI","model":"%s","apiKeySecretRef":{"name":"demo-openai"}%s}' \
    "${OPENAI_MODEL:-gpt-4.1-mini}" "${OPENAI_BASE_URL:+,\"baseURL\":\"$OPENAI_BASE_URL\"}")
  echo "mutations use the OpenAI-compatible API (model ${OPENAI_MODEL:-gpt-4.1-mini})"
fi
kubectl -n "$ns" patch promptportfolio "$portfolio" --type=merge -p "{\"spec\":{\"evolution\":{\"schedule\":\"$schedule\",\"everyTrials\":null,\"maxActiveArms\":6,\"mutator\":$mutator}}}"

if [ "$mode" = node ]; then
  kubectl wait --for=condition=Ready --timeout=60s "promptportfolio/$portfolio" -n "$ns"
  say "A workload Deployment of 2 replicas for $duration, each pod with an injected selector: hidden true rates per prompt; children inherit their parent's ± noise"
  apply_workload "$ns" "$portfolio" "$rates"
  kubectl -n "$ns" rollout status deploy/e2e-workload --timeout=120s
  kubectl get pods -n "$ns" -l app=e2e-workload
  pods=$(kubectl get pods -n "$ns" -l app=e2e-workload -o jsonpath='{.items[*].metadata.name}')
  for pod in $pods; do
    kubectl logs -n "$ns" -f "$pod" -c workload >"$run/workload.$pod.log" 2>&1 &
    pids+=($!)
  done
  first=${pods%% *}
  # The progress tables of the first replica, as they come.
  tail -n +1 -f "$run/workload.$first.log" &
  tailer=$!
  sleep "$duration"
  kubectl -n "$ns" scale deploy/e2e-workload --replicas=0 >/dev/null
  kubectl -n "$ns" wait --for=delete pod -l app=e2e-workload --timeout=120s >/dev/null || true
  sleep 1
  kill "$tailer" 2>/dev/null || true
  status=0
  for pod in $pods; do
    say "Replica $pod"
    sed -n '/^Summary:/,$p' "$run/workload.$pod.log"
  done
  gen=$(kubectl get promptportfolio -n "$ns" "$portfolio" -o jsonpath='{.status.evolutionGeneration}')
  if [ "${gen:-0}" -lt "$expect" ]; then echo "demo: $gen evolution generations, want at least $expect"; status=1; fi
  if grep -q "did not show learning" "$run"/workload.*.log; then status=1; fi
else
say "Starting the manager and a selector as local processes (logs in bin/demo/)"
probe=$(free_port); metrics=$(free_port); listen=$(free_port)
"$bin" manager --metrics-bind-address="127.0.0.1:$metrics" --health-probe-bind-address="127.0.0.1:$probe" \
  --statistics-interval=2s >"$run/manager.log" 2>&1 &
pids+=($!)
"$root/bin/promptfolio-selector" selector --namespace="$ns" --portfolios="$portfolio" --listen="127.0.0.1:$listen" \
  --flush-interval=1s >"$run/selector.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$listen/readyz" >/dev/null 2>&1 && break
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "a process exited; see $run/*.log"; tail -n 20 "$run"/*.log; exit 1; }; done
  sleep 0.2
done
curl -sf "http://127.0.0.1:$listen/readyz" >/dev/null || { echo "selector not ready; see $run/selector.log"; exit 1; }
echo "manager metrics: http://127.0.0.1:$metrics/metrics   selector: http://127.0.0.1:$listen"
kubectl wait --for=condition=Ready --timeout=60s "promptportfolio/$portfolio" -n "$ns"

say "Driving a workload for $duration: hidden true rates per prompt; children inherit their parent's ± noise"
(
  while sleep 30; do
    echo; echo "-- kubectl get promptfolio"; kubectl get promptfolio -n "$ns" 2>/dev/null || true
  done
) &
watcher=$!
set +e
"$bin" workload --selector="http://127.0.0.1:$listen" --namespace="$ns" --portfolio="$portfolio" \
  --rates="$rates" \
  --duration="$duration" --progress=20s --expect-generations="$expect"
status=$?
set -e
kill "$watcher" 2>/dev/null || true
fi

say "What the cluster learned"
kubectl get promptfolio -n "$ns"
"$bin" plot --portfolio="$portfolio" -n "$ns" --out="$root/plots/demo" --include-retired || status=1
echo "plots: $root/plots/demo"

cat <<MSG

The dev cluster is still running. Use it with:
  export KUBECONFIG=$KUBECONFIG PATH=$assets:\$PATH
  kubectl get promptfolio -A
  kubectl get promptarms -o wide
  kubectl describe promptportfolio $portfolio
Stop it with: make dev-cluster-down
MSG
exit $status
