# The settings and helpers the e2e scripts (hack/e2e.sh, hack/e2e-node-mode.sh) share. Source it
# after setting $root (the repository) and $e2e (the name the script reports under); it sources
# hack/lib.sh. Each script sets $out (its output folder) and defines diagnose (what fail prints
# besides the pods and events).
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
assets=${KUBEBUILDER_ASSETS:-$root/bin/k8s/$KUBE_VERSION}
cluster=$root/hack/dev-cluster.sh
dir=${DEV_CLUSTER_DIR:-$root/bin/dev-cluster}
export KUBECONFIG=$dir/kubeconfig
HELM=${HELM:-$root/bin/helm}
ns=default
release=promptfolio
release_ns=promptfolio-system
portfolio=support-reply
rates=concise=0.22,empathetic=0.42,expert=0.32,manual-bullets=0.28
kubectl() { "$assets/kubectl" "$@"; }
# shellcheck source=hack/lib.sh
. "$root/hack/lib.sh"

# step, pass and fail report the script's progress under its name; fail also prints the pods, the
# recent events and what the script's diagnose function prints, then exits 1.
step() { printf '\n\033[1m== %s: %s\033[0m (%ds)\n' "$e2e" "$*" "$((SECONDS - t0))"; }
pass() { echo "$e2e: ok: $*"; }
fail() {
  echo "$e2e: FAIL: $*" >&2
  {
    echo "--- pods"; kubectl get pods -A -o wide
    echo "--- events"; kubectl get events -A --sort-by=.lastTimestamp | tail -30
    diagnose
  } >&2 2>&1 || true
  exit 1
}

# start_node starts the run's clock ($t0), empties $out, sets the EXIT trap (e2e_cleanup stops the
# processes in $background and takes the cluster down whatever happens) and starts the node;
# $sock is its containerd's socket.
start_node() {
  t0=$SECONDS
  background=()
  trap e2e_cleanup EXIT
  rm -rf "$out"; mkdir -p "$out"
  step "starting the node"
  "$cluster" up --node
  sock=$dir/containerd/containerd.sock
}

# until_true waits up to $1 seconds for the command to succeed.
until_true() {
  local secs=$1; shift
  for _ in $(seq 1 $((secs * 2))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  return 1
}

# e2e_cleanup is the e2e scripts' EXIT trap: it stops the background processes and the log
# followers and, unless E2E_KEEP_CLUSTER=1, takes the cluster down; it exits with the script's status.
e2e_cleanup() {
  local status=$?
  for pid in "${background[@]}"; do kill "$pid" 2>/dev/null || true; done
  for f in "$out"/follow.*; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done || true
  if [ "${E2E_KEEP_CLUSTER:-0}" != 1 ]; then "$cluster" down; fi
  exit $status
}

# follow_workload keeps every workload process's output: it follows the log of each e2e-workload
# pod from the start of its workload container (a log cannot be followed before) into
# $out/workload.<pod>.log, so that the final summary of a pod that is deleted still arrives. It
# loops until killed; each follower's process id is in $out/follow.<pod> for e2e_cleanup.
follow_workload() {
  while true; do
    for pod in $(kubectl get pods -n "$ns" -l app=e2e-workload -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.containerStatuses[?(@.name=="workload")].state.running.startedAt}{"\n"}{end}' 2>/dev/null | awk 'NF == 2 {print $1}'); do
      [ -e "$out/follow.$pod" ] && continue
      kubectl logs -n "$ns" -f "$pod" -c workload >"$out/workload.$pod.log" 2>&1 &
      echo $! >"$out/follow.$pod"
    done
    sleep 1
  done
}

# counted prints "trials successes" summed over the PromptArms of the portfolio.
counted() {
  kubectl get promptarms -n "$ns" -l "promptfolio.dev/portfolio=$portfolio" -o json |
    python3 -c 'import json,sys; a=json.load(sys.stdin)["items"]; print(sum(i.get("status",{}).get("trials",0) for i in a), sum(i.get("status",{}).get("successes",0) for i in a))'
}

# cross draws a decision of the portfolio at the selector at URL $1, rewards it (a success) at
# $2, then at $1 and at $2 again, and prints the three status codes: "202 409 409" when the reward
# reached the decision's home and was counted once there.
cross() {
  local decision codes=()
  decision=$(curl -sf --max-time 5 "$1/v1/draw?portfolio=$portfolio" | python3 -c 'import json,sys; print(json.load(sys.stdin)["decision"])') || return 1
  for url in "$2" "$1" "$2"; do
    codes+=("$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
      -d "{\"decision\":\"$decision\",\"success\":true}" "$url/v1/reward")")
  done
  echo "${codes[*]}"
}

# stop_and_count stops the workload (each process prints a summary of what it acknowledged; each
# selector writes its counters on SIGTERM) and the log follower $follower, prints a row for each
# process's last summary in $out/workload.*.log, and fails the run unless the rewards they
# acknowledged, plus $1 successes acknowledged outside them, are what the portfolio's PromptArms
# count once the controller has folded the reports (it waits up to 60s). It sets $trials and
# $successes to the count.
stop_and_count() {
  local acked=$1 acked_ok=$1 errors=0 processes=0 f line n s e
  kubectl -n "$ns" scale deploy/e2e-workload --replicas=0 >/dev/null
  kubectl -n "$ns" wait --for=delete pod -l app=e2e-workload --timeout=120s >/dev/null || fail "workload pods did not stop"
  sleep 2
  kill "$follower" 2>/dev/null || true
  printf '%-40s %10s %10s %8s\n' PROCESS ACKED SUCCESSES ERRORS
  for f in "$out"/workload.*.log; do
    line=$(grep '^Summary:' "$f" | tail -1) || fail "$(basename "$f") has no summary: $(tail -3 "$f")"
    read -r n s e < <(echo "$line" | sed -E 's/Summary: ([0-9]+) rewards \(([0-9]+) successes, ([0-9]+) errors\).*/\1 \2 \3/')
    printf '%-40s %10d %10d %8d\n' "$(basename "$f" .log)" "$n" "$s" "$e"
    acked=$((acked + n)) acked_ok=$((acked_ok + s)) errors=$((errors + e)) processes=$((processes + 1))
  done
  until_true 60 eval '[ "$(counted)" = "$acked $acked_ok" ]' || true
  read -r trials successes < <(counted)
  echo "acknowledged by $processes processes and $1 more: $acked rewards ($acked_ok successes); counted in PromptArm status: $trials ($successes successes); workload errors: $errors"
  [ "$trials" = "$acked" ] && [ "$successes" = "$acked_ok" ] || fail "acknowledged rewards ($acked/$acked_ok) != counted ($trials/$successes)"
}
