#!/usr/bin/env bash
# A development cluster from the binaries of `make envtest-assets`: etcd, kube-apiserver and
# kube-controller-manager (garbage collector, namespace and service-account controllers) on
# loopback with free ports. No nodes: pods are accepted but never run.
#
#   hack/dev-cluster.sh up      start, install the CRDs, write bin/dev-cluster/kubeconfig
#   hack/dev-cluster.sh down    stop exactly the processes that `up` started and remove their data
#   hack/dev-cluster.sh status  say whether it runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
assets=${KUBEBUILDER_ASSETS:-$root/bin/k8s/$KUBE_VERSION}
dir=${DEV_CLUSTER_DIR:-$root/bin/dev-cluster}
kubeconfig=$dir/kubeconfig

log() { echo "dev-cluster: $*" >&2; }
# shellcheck source=hack/lib.sh
. "$root/hack/lib.sh"


running() { # pid file
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start() { # name, args...
  local name=$1; shift
  "$assets/$name" "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

wait_for() { # what, seconds, command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    for name in etcd kube-apiserver kube-controller-manager; do
      if [ -f "$dir/$name.pid" ] && ! running "$dir/$name.pid"; then
        log "$name exited; last lines of $dir/$name.log:"; tail -5 "$dir/$name.log" >&2; return 1
      fi
    done
    sleep 0.2
  done
  log "$what not ready after ${secs}s; see $dir/*.log"; return 1
}

up() {
  for bin in etcd kube-apiserver kube-controller-manager kubectl; do
    [ -x "$assets/$bin" ] || { log "$assets/$bin missing: run 'make envtest-assets'"; exit 1; }
  done
  if running "$dir/kube-apiserver.pid"; then
    log "already running (kubeconfig: $kubeconfig)"; return
  fi
  rm -rf "$dir"; mkdir -p "$dir/etcd" "$dir/certs"
  local etcd_port etcd_peer api_port token
  etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port)
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null

  start etcd --data-dir="$dir/etcd" --name=dev \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="dev=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync
  wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

  start kube-apiserver --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --cert-dir="$dir/certs" --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true --endpoint-reconciler-type=none
  wait_for kube-apiserver 120 curl -skf -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz"

  cat >"$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/certs/apiserver.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: dev
  context: {cluster: dev, user: admin}
current-context: dev
KUBECONFIG
  chmod 600 "$kubeconfig"

  start kube-controller-manager --kubeconfig="$kubeconfig" \
    --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --controllers=garbagecollector,namespace,serviceaccount \
    --service-account-private-key-file="$dir/sa.key" --root-ca-file="$dir/certs/apiserver.crt" \
    --leader-elect=false --secure-port=0
  local kubectl=("$assets/kubectl" --kubeconfig="$kubeconfig")
  wait_for "default service account" 60 "${kubectl[@]}" get serviceaccount default -n default
  "${kubectl[@]}" apply --server-side -f "$root/config/crd/bases" >/dev/null
  "${kubectl[@]}" wait --for=condition=Established --timeout=60s crd --all >/dev/null
  log "up: API server https://127.0.0.1:$api_port"
  log "use it with: export KUBECONFIG=$kubeconfig PATH=$assets:\$PATH"
}

down() {
  local stopped=0
  for name in kube-controller-manager kube-apiserver etcd; do
    local pidfile=$dir/$name.pid
    if running "$pidfile"; then
      local pid; pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
      stopped=$((stopped + 1))
    fi
  done
  rm -rf "$dir"
  log "down ($stopped processes stopped)"
}

status() {
  if running "$dir/kube-apiserver.pid"; then
    echo "running: KUBECONFIG=$kubeconfig"
  else
    echo "not running"; return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
