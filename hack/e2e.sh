#!/usr/bin/env bash
# `make test-e2e`: promptfolio as its users run it, on the dev cluster's node (hack/dev-cluster.sh
# up --node): the chart installed with `helm install --wait`, the sample portfolio, and a workload
# Deployment of two replicas whose pods get the selector sidecar from the webhook and drive it
# over 127.0.0.1. While it runs, the e2e kills the selector container, deletes a workload pod,
# deletes the manager pod, makes the webhook unavailable while a pod is created, and upgrades the
# release. At the end the rewards every workload process acknowledged must equal what the
# PromptArms count, evolution generations must have completed, and the best arm must be the hidden
# best; `helm uninstall` must keep the CRDs and what was learned. docs/e2e.md lists the steps.
#
# Environment:
#   E2E_DURATION      how long the workload runs in total (default 150s)
#   E2E_SCHEDULE      evolution schedule of the portfolio (default 10s)
#   E2E_REQUIRE_NODE  1: fail when the machine cannot run the node (CI); otherwise the headless
#                     local-process demo runs instead, after one line that says why
#   E2E_KEEP_CLUSTER  1: leave the cluster running at the end (default: down)
#   E2E_SELECTOR_SIGNAL  the signal that kills the selector container (default SIGKILL: rewards it
#                     acknowledged survive in its write-ahead record)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
e2e=e2e
# shellcheck source=hack/e2e/lib.sh
. "$root/hack/e2e/lib.sh"
out=$root/bin/e2e
duration=${E2E_DURATION:-150s}
duration_s=${duration%s}
schedule=${E2E_SCHEDULE:-10s}
diagnose() { echo "--- arms"; kubectl get promptarms -n "$ns" -o wide; }

if problem=$("$cluster" node-check); then :; else
  if [ "${E2E_REQUIRE_NODE:-0}" = 1 ]; then echo "e2e: FAIL: the node cannot run: $problem" >&2; exit 1; fi
  echo "e2e: the node cannot run here ($problem): running the local-process demo instead"
  DEMO_LOCAL=1 DEMO_DURATION=${DEMO_DURATION:-90s} DEMO_SCHEDULE=${DEMO_SCHEDULE:-10s} DEMO_EXPECT_GENERATIONS=1 DEMO_KEEP_CLUSTER=0 exec "$root/hack/demo.sh"
fi

start_node
node_start=$((SECONDS - t0))
pause_image=$(image_ref pause)

step "helm install --wait"
t=$SECONDS
install_chart "$ns" >/dev/null || fail "helm install"
install_s=$((SECONDS - t))
kubectl -n "$release_ns" rollout status deploy/$release-manager --timeout=60s >/dev/null || fail "manager not Ready"
pass "manager Ready through the chart in ${install_s}s"

step "the sample portfolio, evolution every $schedule"
kubectl apply -n "$ns" -f "$root/config/samples/" >/dev/null
kubectl -n "$ns" patch promptportfolio "$portfolio" --type=merge \
  -p "{\"spec\":{\"evolution\":{\"schedule\":\"$schedule\",\"everyTrials\":null,\"maxActiveArms\":6}}}" >/dev/null
kubectl wait -n "$ns" --for=condition=Ready --timeout=60s "promptportfolio/$portfolio" >/dev/null || fail "portfolio not Ready"

step "an unannotated pod gets no sidecar"
kubectl run -n "$ns" plain --image="$pause_image" --image-pull-policy=Never --restart=Never >/dev/null
kubectl wait -n "$ns" --for=condition=Ready --timeout=60s pod/plain >/dev/null || fail "unannotated pod not Ready"
containers=$(kubectl get pod -n "$ns" plain -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}')
[[ "$containers" != *promptfolio-selector* ]] || fail "the unannotated pod got a sidecar: $containers"
kubectl delete pod -n "$ns" plain --wait=false >/dev/null
pass "unannotated pod has only: $containers"

step "the workload Deployment: 2 replicas, annotated for injection"
apply_workload "$ns" "$portfolio" "$rates"
kubectl -n "$ns" rollout status deploy/e2e-workload --timeout=120s >/dev/null || fail "workload pods not Ready"
for pod in $(kubectl get pods -n "$ns" -l app=e2e-workload -o name); do
  inits=$(kubectl get -n "$ns" "$pod" -o jsonpath='{.spec.initContainers[*].name}')
  [[ "$inits" == *promptfolio-selector* ]] || fail "$pod has no injected selector (init containers: $inits)"
  ready=$(kubectl get -n "$ns" "$pod" -o jsonpath='{.status.containerStatuses[0].ready}/{.status.initContainerStatuses[0].ready}')
  [ "$ready" = true/true ] || fail "$pod: workload/selector ready = $ready"
done
pass "both workload pods run the injected selector next to the workload (2/2 Ready)"

# Every workload process's output is kept, deleted pods' included.
follow_workload &
follower=$!
background+=($follower)

# Prometheus scrapes the manager and the injected selectors as the chart's monitors describe.
prom_port=$(free_port)
mkdir -p "$out/prometheus"
sed -e "s|DIR|$out/prometheus|" "$root/hack/e2e/prometheus.yml" >"$out/prometheus/prometheus.yml"
echo '[]' >"$out/prometheus/manager.json"; echo '[]' >"$out/prometheus/selectors.json"
(while sleep 2; do python3 "$root/hack/e2e/discover.py" "$assets/kubectl" "$release_ns" "$ns" "$out/prometheus" 2>/dev/null || true; done) &
background+=($!)
prometheus --config.file="$out/prometheus/prometheus.yml" --storage.tsdb.path="$out/prometheus/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$out/prometheus/prometheus.log" 2>&1 &
background+=($!)

generation() { kubectl get promptportfolio -n "$ns" "$portfolio" -o jsonpath='{.status.evolutionGeneration}'; }
phase_end=$((SECONDS + duration_s / 5))
wait_phase() { while [ $SECONDS -lt $phase_end ]; do sleep 1; done; phase_end=$((SECONDS + duration_s / 5)); }

wait_phase
step "fault: the selector container of a workload pod is killed"
pod=$(kubectl get pods -n "$ns" -l app=e2e-workload -o jsonpath='{.items[0].metadata.name}')
id=$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.status.initContainerStatuses[0].containerID}')
ctr --address "$sock" -n k8s.io tasks kill -s "${E2E_SELECTOR_SIGNAL:-SIGKILL}" "${id#containerd://}" || fail "could not kill the selector of $pod"
restarted() { [ "$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.status.initContainerStatuses[0].restartCount}/{.status.initContainerStatuses[0].ready}')" = 1/true ]; }
until_true 60 restarted || fail "the kubelet did not restart the selector of $pod"
pass "the kubelet restarted the selector of $pod and it is Ready again"

wait_phase
step "fault: a workload pod is deleted"
pod=$(kubectl get pods -n "$ns" -l app=e2e-workload -o jsonpath='{.items[1].metadata.name}')
kubectl delete pod -n "$ns" "$pod" --timeout=90s >/dev/null || fail "deleting $pod"
kubectl -n "$ns" rollout status deploy/e2e-workload --timeout=120s >/dev/null || fail "no replacement workload pod"
pass "$pod deleted; the Deployment runs a replacement"

wait_phase
step "fault: the manager pod is deleted"
gen_before=$(generation)
old=$(kubectl get pods -n "$release_ns" -l app.kubernetes.io/component=manager -o jsonpath='{.items[0].metadata.name}')
kubectl delete pod -n "$release_ns" "$old" --timeout=90s >/dev/null || fail "deleting the manager pod"
kubectl -n "$release_ns" rollout status deploy/$release-manager --timeout=120s >/dev/null || fail "no new manager"
new=$(kubectl get pods -n "$release_ns" -l app.kubernetes.io/component=manager -o jsonpath='{.items[0].metadata.name}')
holder() { kubectl get lease -n "$release_ns" -o jsonpath='{.items[*].spec.holderIdentity}'; }
until_true 90 eval '[[ "$(holder)" == *"$new"* ]]' || fail "the new manager $new did not take the lease (holder: $(holder))"
until_true 120 eval '[ "$(generation)" -gt "$gen_before" ]' || fail "no evolution cycle after the manager changed (generation $gen_before)"
pass "manager $old deleted; $new holds the lease; generation $gen_before -> $(generation)"

step "fault: the webhook is unavailable while a pod is created"
kubectl -n "$release_ns" scale deploy/$release-manager --replicas=0 >/dev/null
kubectl -n "$release_ns" wait --for=delete pod -l app.kubernetes.io/component=manager --timeout=90s >/dev/null || true
t=$SECONDS
kubectl run -n "$ns" no-webhook --image="$pause_image" --image-pull-policy=Never --restart=Never \
  --annotations=promptfolio.dev/inject=true --annotations=promptfolio.dev/portfolios=$portfolio >/dev/null ||
  fail "the pod was rejected while the webhook was down"
create_s=$((SECONDS - t))
kubectl wait -n "$ns" --for=condition=Ready --timeout=60s pod/no-webhook >/dev/null || fail "the pod created without the webhook did not start"
containers=$(kubectl get pod -n "$ns" no-webhook -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}')
[[ "$containers" != *promptfolio-selector* ]] || fail "a sidecar was injected with the webhook down: $containers"
kubectl delete pod -n "$ns" no-webhook --wait=false >/dev/null
kubectl -n "$release_ns" scale deploy/$release-manager --replicas=1 >/dev/null
kubectl -n "$release_ns" rollout status deploy/$release-manager --timeout=120s >/dev/null || fail "the manager did not come back"
pass "with the webhook down the annotated pod was admitted in ${create_s}s and started without a sidecar (failurePolicy Ignore)"

step "helm upgrade --wait"
before=$(counted)
"$HELM" upgrade "$release" "$root/charts/promptfolio" -n "$release_ns" --reuse-values --wait --timeout 180s \
  --set manager.logLevel=debug >/dev/null || fail "helm upgrade"
after=$(counted)
[ "${after%% *}" -ge "${before%% *}" ] || fail "trials went down across the upgrade: $before -> $after"
pass "upgraded; trials $before -> $after"

step "Prometheus: every query of the chart's dashboard returns data"
targets() { curl -sf "http://127.0.0.1:$prom_port/api/v1/targets" | python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; print(" ".join(sorted(x["labels"]["job"] for x in t if x["health"] == "up")))'; }
both_up() { [[ "$(targets)" == *promptfolio-manager* && "$(targets)" == *promptfolio-selectors* ]]; }
until_true 60 both_up || fail "Prometheus does not scrape the manager and the selectors (up: $(targets)); see $out/prometheus/prometheus.log"
echo "targets up: $(targets)"
queries() { python3 "$root/hack/e2e/dashboard-queries.py" "$root/charts/promptfolio/files/dashboard.json" "http://127.0.0.1:$prom_port" >"$out/prometheus/queries.txt" 2>&1; }
# Rates and deltas need two samples of a series; a manager that just restarted has new series.
until_true 90 queries || { cat "$out/prometheus/queries.txt"; fail "dashboard queries without data"; }
cat "$out/prometheus/queries.txt"
pass "Prometheus scrapes the manager and $(targets | tr ' ' '\n' | grep -c selectors) selector targets; every dashboard query has data"

step "a decision drawn in one pod and rewarded through another pod's selector counts once"
# A retry through a Service reaches any replica: the selector that did not issue the decision
# forwards the reward to the one that did (its home, the pod IP in the token), which counts it
# once and answers 409 to every repeat, wherever it is sent.
pod_ips=$(kubectl get pods -n "$ns" -l app=e2e-workload -o jsonpath='{range .items[*]}{.status.podIP}{" "}{.status.initContainerStatuses[0].ready}{"\n"}{end}' | awk '$2 == "true" {print $1}')
read -r ip_a ip_b _ <<<"$(echo $pod_ips)"
[ -n "$ip_b" ] || fail "two workload pods with a ready selector are needed (pod IPs: $ip_a)"
codes=$(cross "http://$ip_a:8686" "http://$ip_b:8686") || fail "no draw from the selector at $ip_a"
[ "$codes" = "202 409 409" ] || fail "rewards of one decision at $ip_b, $ip_a, $ip_b answered $codes, want 202 409 409"
extra_acked=1 # added to what the workload processes acknowledged
pass "drawn at $ip_a, rewarded at $ip_b (202), again at $ip_a and $ip_b (409, 409)"

wait_phase
step "stopping the workload: every process prints what it acknowledged"
final=$(kubectl get pods -n "$ns" -l app=e2e-workload -o jsonpath='{.items[*].metadata.name}')
stop_and_count "$extra_acked" # the cross-pod reward
pass "every acknowledged reward is counted once"

step "learning: evolution generations and the best arm"
# Each replica that ran to the end read the portfolio when it stopped and ran the demo's result
# check (internal/demo Result.Check): a best arm, generations, weak arms retired and their slots
# reused, and the best arm the hidden best among the arms that served 100 calls — or within 0.05
# of its hidden rate, since two children that close cannot be told apart in a few minutes.
gen=$(generation)
echo "generations: $gen"
[ "${gen:-0}" -ge 1 ] || fail "no evolution generation completed"
for pod in $final; do
  f=$out/workload.$pod.log
  best=$(sed -n 's/^  best arm: \([^ ]*\) (hidden best among active arms: \([^)]*\)).*/\1 \2/p' "$f" | tail -1)
  echo "$pod: best arm, hidden best: $best"
  ! grep -q "did not show learning" "$f" || fail "$pod: $(grep "did not show learning" "$f")"
  [ -n "$best" ] || fail "$pod: no result summary in its log"
done
pass "generation $gen; in every replica the demo's result check passed (best arm found vs hidden best above)"

step "helm uninstall keeps the CRDs and what was learned"
"$HELM" uninstall "$release" -n "$release_ns" --wait --timeout 120s >/dev/null || fail "helm uninstall"
kubectl get crd promptarms.prompts.promptfolio.dev promptportfolios.prompts.promptfolio.dev >/dev/null || fail "a CRD was deleted"
[ "$(counted)" = "$trials $successes" ] || fail "learned status changed with uninstall: $(counted) vs $trials $successes"
pass "CRDs and arms kept; trials $trials"

step "done in $((SECONDS - t0))s (node start ${node_start}s, helm install ${install_s}s)"
