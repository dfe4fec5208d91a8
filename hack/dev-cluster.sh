#!/usr/bin/env bash
# A development cluster from the binaries of `make envtest-assets`.
#
#   hack/dev-cluster.sh up           etcd, kube-apiserver and kube-controller-manager (garbage
#                                    collector, namespace and service-account controllers) on
#                                    loopback with free ports. No nodes: pods are accepted but never
#                                    run. Needs no privileges.
#   hack/dev-cluster.sh up --node    a one-node cluster that runs pods (root only; hack/dev-node.sh):
#                                    the API server on a bridge of its own, kube-controller-manager
#                                    with its default controllers, kube-scheduler, kube-proxy, a
#                                    kubelet, containerd with runc and bridge CNI, and the images of
#                                    bin/images (`make images`) loaded. See docs/e2e.md.
#   hack/dev-cluster.sh down         stop exactly the processes that `up` started, remove what it
#                                    created and put back every host setting it changed
#   hack/dev-cluster.sh status       say whether it runs
#   hack/dev-cluster.sh node-check   exit 0 when this machine can run the node, else say why
#
# Both up and down are idempotent. Without --node the CRDs are installed (with it, the chart installs
# them); the kubeconfig is bin/dev-cluster/kubeconfig.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
assets=${KUBEBUILDER_ASSETS:-$root/bin/k8s/$KUBE_VERSION}
dir=${DEV_CLUSTER_DIR:-$root/bin/dev-cluster}
kubeconfig=$dir/kubeconfig

log() { echo "dev-cluster: $*" >&2; }
# shellcheck source=hack/lib.sh
. "$root/hack/lib.sh"
# shellcheck source=hack/dev-node.sh
. "$root/hack/dev-node.sh"

# components lists the processes of the cluster in start order; down stops them in reverse.
components=(etcd kube-apiserver kube-controller-manager containerd kube-scheduler kube-proxy kubelet)

running() { # pid file
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start() { # name, args...
  local name=$1 bin; shift
  bin=$assets/$name
  [ -x "$bin" ] || bin=$(command -v "$name")
  "$bin" "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

wait_for() { # what, seconds, command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    for name in "${components[@]}"; do
      if [ -f "$dir/$name.pid" ] && ! running "$dir/$name.pid"; then
        log "$name exited; last lines of $dir/$name.log:"; tail -5 "$dir/$name.log" >&2; return 1
      fi
    done
    sleep 0.2
  done
  log "$what not ready after ${secs}s; see $dir/*.log"; return 1
}

write_kubeconfig() { # server, CA file, token
  cat >"$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    server: $1
    certificate-authority: $2
users:
- name: admin
  user:
    token: $3
contexts:
- name: dev
  context: {cluster: dev, user: admin}
current-context: dev
KUBECONFIG
  chmod 600 "$kubeconfig"
}

up() {
  local mode=${1:-}
  for bin in etcd kube-apiserver kube-controller-manager kubectl; do
    [ -x "$assets/$bin" ] || { log "$assets/$bin missing: run 'make envtest-assets'"; exit 1; }
  done
  if running "$dir/kube-apiserver.pid"; then
    if [ "$mode" = --node ] && [ ! -f "$dir/node" ]; then
      log "a cluster without a node runs; stop it first with '$0 down'"; exit 1
    fi
    log "already running (kubeconfig: $kubeconfig)"; return
  fi
  # A previous run that did not end with down left state behind: put the host back first.
  if [ -d "$dir" ]; then down; fi
  # A start that fails stops what it started; its logs stay in $dir.failed.
  trap 'if [ $? != 0 ]; then log "up failed; logs in $dir.failed"; rm -rf "$dir.failed"; mkdir -p "$dir.failed"; cp "$dir"/*.log "$dir.failed/" 2>/dev/null; down; fi' EXIT
  if [ "$mode" = --node ]; then node_check; fi
  mkdir -p "$dir/etcd" "$dir/certs"
  local etcd_port etcd_peer api_port token api_addr
  etcd_port=$(free_port); etcd_peer=$(free_port)
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null

  local api_args=()
  if [ "$mode" = --node ]; then
    # The host state is saved before anything changes it, and the bridge exists before the API
    # server binds to its address.
    node_save_host
    node_network
    node_pki
    api_addr=$node_gateway api_port=6443
    api_args=(--tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key"
      --client-ca-file="$dir/pki/ca.crt"
      --kubelet-client-certificate="$dir/pki/kubelet-client.crt" --kubelet-client-key="$dir/pki/kubelet-client.key"
      --enable-aggregator-routing=true --kubelet-preferred-address-types=InternalIP)
  else
    api_addr=127.0.0.1 api_port=$(free_port)
    api_args=(--endpoint-reconciler-type=none)
  fi

  start etcd --data-dir="$dir/etcd" --name=dev \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="dev=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync
  wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

  start kube-apiserver --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address="$api_addr" --advertise-address="$api_addr" --secure-port="$api_port" \
    --cert-dir="$dir/certs" --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --service-cluster-ip-range="${node_service_cidr:-10.96.0.0/16}" --allow-privileged=true "${api_args[@]}"
  wait_for kube-apiserver 120 curl -skf -H "Authorization: Bearer $token" "https://$api_addr:$api_port/readyz"

  local ca=$dir/certs/apiserver.crt
  if [ "$mode" = --node ]; then ca=$dir/pki/ca.crt; fi
  write_kubeconfig "https://$api_addr:$api_port" "$ca" "$token"

  local kcm_args=(--controllers=garbagecollector,namespace,serviceaccount)
  if [ "$mode" = --node ]; then kcm_args=(--use-service-account-credentials=true); fi
  start kube-controller-manager --kubeconfig="$kubeconfig" \
    --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --service-account-private-key-file="$dir/sa.key" --root-ca-file="$ca" \
    --leader-elect=false --secure-port=0 "${kcm_args[@]}"
  local kubectl=("$assets/kubectl" --kubeconfig="$kubeconfig")
  wait_for "default service account" 60 "${kubectl[@]}" get serviceaccount default -n default
  if [ "$mode" = --node ]; then
    node_up # the chart installs the CRDs
  else
    "${kubectl[@]}" apply --server-side -f "$root/config/crd/bases" >/dev/null
    "${kubectl[@]}" wait --for=condition=Established --timeout=60s crd --all >/dev/null
  fi
  trap - EXIT
  log "up: API server https://$api_addr:$api_port"
  log "use it with: export KUBECONFIG=$kubeconfig PATH=$assets:\$PATH"
}

stop_pid() { # pid file
  local pidfile=$1
  if running "$pidfile"; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    stopped=$((stopped + 1))
  fi
}

down() {
  local stopped=0
  if [ -f "$dir/node" ] || [ -d "$dir/host" ]; then
    node_down
  else
    for ((i = ${#components[@]} - 1; i >= 0; i--)); do stop_pid "$dir/${components[$i]}.pid"; done
  fi
  rm -rf "$dir"
  log "down ($stopped processes stopped)"
}

status() {
  if running "$dir/kube-apiserver.pid"; then
    if [ -f "$dir/node" ]; then echo "running with a node: KUBECONFIG=$kubeconfig"; else echo "running: KUBECONFIG=$kubeconfig"; fi
  else
    echo "not running"; return 1
  fi
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  status) status ;;
  node-check) problem=$(node_problem); if [ -n "$problem" ]; then echo "$problem"; exit 1; fi ;;
  *) echo "usage: $0 up [--node]|down|status|node-check" >&2; exit 2 ;;
esac
