#!/usr/bin/env bash
# `make test-dev-node`: starts the node of `hack/dev-cluster.sh up --node`, runs a pod with a host port on it, stops
# it with down, runs down a second time, and fails unless the host is exactly as before: no
# process of the cluster, and the same mounts, interfaces, network namespaces, iptables rules and
# chains (IPv4 and IPv6), cgroups, sysctls and runtime directories. Needs root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
assets=${KUBEBUILDER_ASSETS:-$root/bin/k8s/$KUBE_VERSION}
dir=${DEV_CLUSTER_DIR:-$root/bin/dev-cluster}
cluster=$root/hack/dev-cluster.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# shellcheck source=hack/lib.sh
. "$root/hack/lib.sh"

if problem=$("$cluster" node-check); then :; else echo "test-dev-node: skipped: $problem"; exit 0; fi
if "$cluster" status >/dev/null 2>&1; then echo "test-dev-node: a dev cluster runs; stop it first" >&2; exit 1; fi

# snapshot writes what the node may change, one file per kind, into $1.
snapshot() {
  local d=$1 cmd t
  mkdir -p "$d"
  awk '{print $5}' /proc/self/mountinfo | sort >"$d/mounts"
  ip -o link show | awk -F': ' '{print $2}' | sort >"$d/interfaces"
  ip -o addr show | awk '{print $2, $3, $4}' | sort >"$d/addresses"
  ip route show table all | sort >"$d/routes"
  ls /run/netns 2>/dev/null | sort >"$d/netns" || true
  for cmd in iptables ip6tables; do
    for t in filter nat mangle raw; do
      "$cmd-save" -t "$t" 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
    done
  done >"$d/iptables"
  find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d 2>/dev/null | sort >"$d/cgroups"
  sysctl -a 2>/dev/null | grep -Ev '^(fs\.quota\.|fs\.(dentry-state|file-nr|inode-nr|inode-state)|kernel\.(ns_last_pid|random\.)|net\.netfilter\.nf_conntrack_count)' >"$d/sysctl"
  for p in /var/log/containers /var/log/pods /var/lib/cni /run/containerd /run/netns /var/lib/kubelet /etc/kubernetes "$dir"; do
    [ -e "$p" ] && echo "$p"
  done >"$d/paths" || true
}

snapshot "$out/before"
start=$SECONDS
"$cluster" up --node
echo "test-dev-node: node up in $((SECONDS - start))s"
kubectl() { "$assets/kubectl" --kubeconfig="$dir/kubeconfig" "$@"; }
pause=$(image_ref pause)
# The pod has a host port, as node-local selectors do, so that the portmap plugin's rules are
# among what down must remove.
kubectl run probe --image="$pause" --image-pull-policy=Never --restart=Never --overrides='{"spec": {"containers": [
  {"name": "probe", "image": "'"$pause"'", "imagePullPolicy": "Never", "ports": [{"containerPort": 8686, "hostPort": 18686}]}]}}' >/dev/null
kubectl wait --for=condition=Ready --timeout=60s pod/probe >/dev/null
echo "test-dev-node: a pod ran ($(kubectl get pod probe -o jsonpath='{.status.podIP}'), host port 18686)"
snapshot "$out/running"
grep -q 'dport 18686' "$out/running/iptables" || { echo "test-dev-node: FAIL: no host-port rule for the pod's port 18686 while it ran"; exit 1; }
"$cluster" down
"$cluster" down
snapshot "$out/after"

failed=0
for f in "$out/before"/*; do
  kind=$(basename "$f")
  if ! diff -u "$f" "$out/after/$kind" >"$out/$kind.diff"; then
    echo "test-dev-node: FAIL: $kind differ after down:"; cat "$out/$kind.diff"; failed=1
  fi
done
# The running snapshot must differ from the one before, or the comparison proves nothing.
for kind in interfaces iptables cgroups; do
  if diff -q "$out/before/$kind" "$out/running/$kind" >/dev/null; then
    echo "test-dev-node: FAIL: the node changed no $kind while it ran: the snapshot does not see it"; failed=1
  fi
done
left=""
for f in /proc/[0-9]*/cmdline; do
  if [[ "$(tr '\0' ' ' 2>/dev/null <"$f")" == *"$dir/"* ]]; then left+=" ${f#/proc/}"; fi
done
if [ -n "$left" ]; then echo "test-dev-node: FAIL: processes of the cluster still run: $left"; failed=1; fi
if [ $failed = 0 ]; then echo "test-dev-node: ok: down left nothing behind (mounts, interfaces, netns, iptables, cgroups, sysctls, paths)"; fi
exit $failed
