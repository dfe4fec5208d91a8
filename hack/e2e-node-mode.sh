#!/usr/bin/env bash
# `make test-e2e-node-mode`: node-local selectors (chart value selector.mode node) on the dev
# cluster's node. The workload of hack/e2e.sh first runs with sidecars (the baseline), then the
# release is upgraded to node mode and the workload restarted: its pods come back without a
# sidecar, pointed at the DaemonSet's selector on their node through the host port. Each phase
# measures the counter-report writes per second at the API server (apiserver_request_total) and
# the writers. Between the two, a decision drawn at the node's selector is rewarded at a sidecar
# and the reverse: forwarded to its home, counted once. In node mode the node's selector is killed
# with SIGKILL, then its pod is deleted.
# At the end the rewards every workload process acknowledged, in both modes, must equal what the
# PromptArms count. docs/e2e.md describes the steps; docs/benchmarks.md has the figures.
#
# Environment:
#   E2E_REPLICAS      workload replicas (default 3)
#   E2E_MEASURE       seconds of each measurement window (default 30)
#   E2E_KEEP_CLUSTER  1: leave the cluster running at the end (default: down)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
e2e="e2e node mode"
# shellcheck source=hack/e2e/lib.sh
. "$root/hack/e2e/lib.sh"
out=$root/bin/e2e-node-mode
replicas=${E2E_REPLICAS:-3}
measure=${E2E_MEASURE:-30}
ds=$release-node-selector
diagnose() {
  echo "--- reports"; kubectl get promptcounterreports -n "$ns"
  echo "--- node selector"; kubectl logs -n "$ns" "ds/$ds" --tail=30
}

if problem=$("$cluster" node-check); then :; else
  echo "e2e node mode: FAIL: the node cannot run here: $problem" >&2
  exit 1
fi

start_node

step "helm install --wait, sidecar mode"
install_chart "$ns" >/dev/null || fail "helm install"
kubectl apply -n "$ns" -f "$root/config/samples/" >/dev/null
kubectl wait -n "$ns" --for=condition=Ready --timeout=60s "promptportfolio/$portfolio" >/dev/null || fail "portfolio not Ready"
apply_workload "$ns" "$portfolio" "$rates"
kubectl -n "$ns" scale deploy/e2e-workload --replicas="$replicas" >/dev/null
kubectl -n "$ns" rollout status deploy/e2e-workload --timeout=120s >/dev/null || fail "workload pods not Ready"
pass "$replicas workload pods with sidecars"

# Every workload process's output is kept, deleted pods' included.
follow_workload &
follower=$!
background+=($follower)

# writes prints the write requests (create, patch, update, apply) the API server has served for
# resource $1 of the promptfolio group, from its metrics.
writes() {
  kubectl get --raw /metrics | awk -v r="$1" '
    /^apiserver_request_total\{/ && $0 ~ "resource=\"" r "\"" && $0 ~ /group="prompts.promptfolio.dev"/ &&
      $0 ~ /verb="(POST|PATCH|PUT|APPLY|CREATE|UPDATE)"/ { n += $NF }
    END { printf "%d\n", n }'
}
# window measures report and arm writes per second over $measure seconds and prints
# "report_writes_per_s arm_writes_per_s writers".
window() {
  local r0 a0 r1 a1 t
  r0=$(writes promptcounterreports); a0=$(writes promptarms); t=$SECONDS
  sleep "$measure"
  r1=$(writes promptcounterreports); a1=$(writes promptarms); t=$((SECONDS - t))
  local writers
  writers=$(kubectl get promptcounterreports -n "$ns" -o jsonpath='{range .items[*]}{.spec.writer}{"\n"}{end}' | sort -u | grep -vc '^$' || true)
  python3 -c "print(f'{($r1 - $r0) / $t:.2f} {($a1 - $a0) / $t:.2f} $writers')"
}

step "sidecar mode: report writes over ${measure}s with $replicas pods"
read -r side_reports side_arms side_writers < <(window)
echo "sidecar mode: $side_reports report writes/s, $side_arms arm writes/s, $side_writers writers"
[ "$side_writers" -ge "$replicas" ] || fail "sidecar mode: $side_writers writers for $replicas pods"

step "helm upgrade to node mode; the workload restarted"
"$HELM" upgrade "$release" "$root/charts/promptfolio" -n "$release_ns" --reuse-values --wait --timeout 180s \
  --set selector.mode=node >/dev/null || fail "helm upgrade to node mode"
kubectl -n "$ns" rollout status "ds/$ds" --timeout=90s >/dev/null || fail "the node selector is not Ready"

# Until the workload restarts, its pods keep their sidecars: a decision drawn at one kind of
# selector and rewarded at the other is forwarded to its home (the node's selector advertises
# the node's address and host port) and counted once; the same reward sent again to either is 409.
host_ip=$(kubectl get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}')
sidecar_ip=$(kubectl get pods -n "$ns" -l app=e2e-workload -o jsonpath='{.items[0].status.podIP}')
node_url=http://$host_ip:8686 sidecar_url=http://$sidecar_ip:8686
extra=0
for pair in "$node_url $sidecar_url" "$sidecar_url $node_url"; do
  # shellcheck disable=SC2086
  codes=$(cross $pair) || fail "no draw from ${pair%% *}"
  [ "$codes" = "202 409 409" ] || fail "drawn at ${pair%% *}, rewarded at ${pair#* }, then at both again: $codes, want 202 409 409"
  extra=$((extra + 1))
done
pass "drawn at the node's selector and rewarded at a sidecar, and the reverse: each counted once at its home (202, then 409 at both)"

kubectl -n "$ns" rollout restart deploy/e2e-workload >/dev/null
kubectl -n "$ns" rollout status deploy/e2e-workload --timeout=180s >/dev/null || fail "workload pods not Ready in node mode"
node_pod=$(kubectl get pods -n "$ns" -l app.kubernetes.io/component=node-selector -o jsonpath='{.items[0].metadata.name}')
[ "$(kubectl get pod -n "$ns" "$node_pod" -o jsonpath='{.status.hostIP}')" = "$host_ip" ] || fail "the node selector's hostIP is not the node's address $host_ip"
# The old pods stop (each workload prints its summary, each sidecar writes its reports).
only_new_pods() { [ "$(kubectl get pods -n "$ns" -l app=e2e-workload -o name | wc -l)" = "$replicas" ]; }
until_true 90 only_new_pods || fail "the workload's sidecar pods did not stop"
pods=$(kubectl get pods -n "$ns" -l app=e2e-workload -o jsonpath='{range .items[*]}{.metadata.name}{"|"}{.spec.initContainers[*].name}{"|"}{.metadata.annotations.promptfolio\.dev/selector-mode}{"|"}{.spec.containers[0].env[?(@.name=="PROMPTFOLIO_SELECTOR_URL")].value}{"\n"}{end}')
while IFS='|' read -r pod inits mode url; do
  [ -z "$inits" ] && [ "$mode" = node ] || fail "$pod: init containers '$inits', mode '$mode': want no sidecar, node mode"
  [ "$url" = 'http://$(PROMPTFOLIO_HOST_IP):8686' ] || fail "$pod: PROMPTFOLIO_SELECTOR_URL=$url"
done <<<"$pods"
# The pods have no selector of their own: the rewards the node's selector acknowledges, read
# through the host port from the node itself, are theirs.
acked_at_node() {
  curl -sf "http://$host_ip:8686/metrics" | awk '/^promptfolio_selector_rewards_total\{/ { n += $NF } END { printf "%d\n", n }'
}
before=$(acked_at_node) || fail "the node selector does not answer on http://$host_ip:8686"
until_true 30 eval '[ "$(acked_at_node)" -gt "$before" ]' || fail "the node selector acknowledges no rewards (${before})"
pass "pods have no sidecar; the node selector $node_pod at http://$host_ip:8686 (host port) acknowledges their rewards ($before -> $(acked_at_node))"

step "node mode: report writes over ${measure}s with $replicas pods"
# The sidecars' reports are folded and deleted with their pods; only the node's writer remains.
only_node_writer() { [ "$(kubectl get promptcounterreports -n "$ns" -o jsonpath='{range .items[*]}{.spec.writer}{"\n"}{end}' | sort -u | grep -vc '^$')" = 1 ]; }
until_true 60 only_node_writer || fail "the sidecars' reports are still there: $(kubectl get promptcounterreports -n "$ns" -o name)"
read -r node_reports node_arms node_writers < <(window)
echo "node mode: $node_reports report writes/s, $node_arms arm writes/s, $node_writers writers"
[ "$node_writers" = 1 ] || fail "node mode: $node_writers writers on one node"
owner=$(kubectl get promptcounterreports -n "$ns" -o jsonpath='{.items[0].metadata.ownerReferences[0].kind}/{.items[0].metadata.ownerReferences[0].name}')
[ "$owner" = "Pod/$node_pod" ] || fail "the node's report is owned by $owner, want Pod/$node_pod"
pass "one writer for $replicas pods, its report owned by $owner"

step "fault: the node selector is killed with SIGKILL"
id=$(kubectl get pod -n "$ns" "$node_pod" -o jsonpath='{.status.containerStatuses[0].containerID}')
ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "${id#containerd://}" || fail "could not kill the node selector"
restarted() { [ "$(kubectl get pod -n "$ns" "$node_pod" -o jsonpath='{.status.containerStatuses[0].restartCount}/{.status.containerStatuses[0].ready}')" = 1/true ]; }
until_true 60 restarted || fail "the kubelet did not restart the node selector"
pass "the kubelet restarted the node selector; it replayed its write-ahead record (same pod, same writer)"
sleep 10

step "fault: the node selector's pod is deleted"
kubectl delete pod -n "$ns" "$node_pod" --timeout=90s >/dev/null || fail "deleting $node_pod"
kubectl -n "$ns" rollout status "ds/$ds" --timeout=90s >/dev/null || fail "no new node selector"
new_pod=$(kubectl get pods -n "$ns" -l app.kubernetes.io/component=node-selector -o jsonpath='{.items[0].metadata.name}')
pass "$node_pod deleted (it wrote its reports on SIGTERM); $new_pod serves the node"
sleep 10

step "stopping the workload: every process prints what it acknowledged"
stop_and_count "$extra" # the two rewards of the cross-selector step
pass "every acknowledged reward is counted once, across the switch to node mode, the SIGKILL and the pod's replacement"

step "done in $((SECONDS - t0))s"
echo "report writes/s with $replicas pods on one node: sidecar mode $side_reports ($side_writers writers), node mode $node_reports ($node_writers writer)"
