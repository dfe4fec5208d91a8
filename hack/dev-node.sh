# The node of `hack/dev-cluster.sh up --node`: functions only, sourced by hack/dev-cluster.sh, whose
# variables (root, assets, dir, kubeconfig) and helpers (start, wait_for, stop_pid, log) they use.
#
# Everything the node creates on the host is named here and removed by node_down: the bridge
# pfdev0 (the API server, the kubelet and kube-proxy bind to its gateway address), the pods'
# network namespaces, veths and mounts, iptables chains (its own PROMPTFOLIO-DEV-EGRESS, and every
# chain kube-proxy and the kubelet add), the kubepods cgroups, and directories that did not exist
# before. The sysctls the kubelet, kube-proxy and the bridge plugin change are saved before the
# first change and written back. Pod and Service addresses never leave the machine: the egress
# chain drops them on every interface but the bridge. docs/e2e.md explains the settings.

node_name=promptfolio-dev
node_bridge=pfdev0
node_pod_cidr=10.244.0.0/24
node_gateway=10.244.0.1
node_service_cidr=10.96.0.0/16
node_service_ip=10.96.0.1
node_chain=PROMPTFOLIO-DEV-EGRESS
# node_sysctls are every kernel setting the node's components change: the kubelet (panic, oops,
# overcommit, OOM panic, key quotas), the bridge plugin (forwarding), kube-proxy (conntrack).
node_sysctls=(kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.bridge.bridge-nf-call-arptables
  net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
  net.netfilter.nf_conntrack_tcp_timeout_close_wait net.ipv4.conf.all.route_localnet
  net.ipv6.conf.all.forwarding net.ipv4.ip_forward)
# node_paths are host directories the runtime or kubelet create at fixed places; those that did
# not exist before up are removed by down.
node_paths=(/var/log/containers /var/log/pods /var/lib/cni /run/containerd /run/netns /var/lib/kubelet /etc/kubernetes)
node_tables=(filter nat mangle raw)

# node_problem prints why this machine cannot run the node, or nothing when it can.
node_problem() {
  if [ "$(id -u)" != 0 ]; then echo "the node needs root"; return; fi
  local cmd
  for cmd in containerd containerd-shim-runc-v2 ctr runc iptables ip6tables iptables-save ip conntrack openssl; do
    command -v "$cmd" >/dev/null || { echo "$cmd is not installed (apt-get install containerd runc containernetworking-plugins iptables conntrack)"; return; }
  done
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
    { echo "the CNI plugins are not installed (apt-get install containernetworking-plugins)"; return; }
  for cmd in kube-scheduler kube-proxy kubelet; do
    [ -x "$assets/$cmd" ] || { echo "$assets/$cmd missing: run 'make node-assets'"; return; }
  done
  for img in manager selector pause; do
    [ -f "$root/bin/images/$img.tar" ] || { echo "bin/images/$img.tar missing: run 'make images'"; return; }
  done
  if ip link show "$node_bridge" >/dev/null 2>&1; then echo "interface $node_bridge exists: another node runs"; return; fi
  if compgen -G "/sys/fs/cgroup/*/kubepods" >/dev/null; then echo "kubepods cgroups exist: another kubelet runs"; return; fi
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || { echo "no memory cgroup"; return; }
}

node_check() {
  local problem; problem=$(node_problem)
  if [ -n "$problem" ]; then log "cannot start the node: $problem"; exit 1; fi
}

# node_save_host records what down puts back or compares with: sysctls, chains, netns, paths.
node_save_host() {
  local h=$dir/host
  mkdir -p "$h"
  local key
  for key in "${node_sysctls[@]}"; do
    if [ -e "/proc/sys/${key//.//}" ]; then echo "$key=$(sysctl -n "$key")"; fi
  done >"$h/sysctl"
  node_chains >"$h/chains"
  ls /run/netns 2>/dev/null >"$h/netns" || true
  for p in "${node_paths[@]}"; do [ -e "$p" ] && echo "$p"; done >"$h/paths" || true
}

# node_chains lists the iptables chains of every table, as "<command> <table> <chain>".
node_chains() {
  local cmd t
  for cmd in iptables ip6tables; do
    for t in "${node_tables[@]}"; do
      "$cmd" -w 5 -t "$t" -S 2>/dev/null | awk -v c="$cmd" -v t="$t" '$1 == "-N" {print c, t, $2}'
    done
  done
}

# node_network creates the bridge with the gateway address and the egress chain that keeps pod
# and Service traffic on this machine.
node_network() {
  ip link add "$node_bridge" type bridge
  ip addr add "$node_gateway/${node_pod_cidr#*/}" dev "$node_bridge"
  ip link set "$node_bridge" up
  iptables -w 5 -N "$node_chain"
  # Traffic of this machine to itself (the API server on the gateway address) stays allowed.
  iptables -w 5 -A "$node_chain" -o lo -j RETURN
  iptables -w 5 -A "$node_chain" -s "$node_pod_cidr" ! -o "$node_bridge" -j DROP
  iptables -w 5 -A "$node_chain" -d "$node_pod_cidr" ! -o "$node_bridge" -j DROP
  iptables -w 5 -A "$node_chain" -d "$node_service_cidr" -j DROP
  iptables -w 5 -I FORWARD 1 -j "$node_chain"
  iptables -w 5 -I OUTPUT 1 -j "$node_chain"
}

# node_pki makes a CA and the certificates of the API server (reachable from pods by the
# kubernetes Service), the kubelet's server, and the API server's client of the kubelet.
node_pki() {
  local p=$dir/pki
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" -days 7 -subj "/CN=promptfolio-dev-ca" 2>/dev/null
  cert() { # name, subject, subjectAltName (empty for a client certificate)
    local ext=$p/$1.ext
    if [ -n "$3" ]; then
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$3" >"$ext"
    else
      printf 'extendedKeyUsage=clientAuth\n' >"$ext"
    fi
    openssl req -newkey rsa:2048 -nodes -keyout "$p/$1.key" -out "$p/$1.csr" -subj "$2" 2>/dev/null
    openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 7 \
      -extfile "$ext" -out "$p/$1.crt" 2>/dev/null
  }
  cert apiserver "/CN=kube-apiserver" \
    "IP:$node_gateway,IP:$node_service_ip,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  cert kubelet "/CN=$node_name" "IP:$node_gateway,DNS:$node_name"
  cert kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" ""
}

# node_up starts containerd, loads the images, and starts kube-scheduler, kube-proxy and the
# kubelet; it returns when the node is Ready.
node_up() {
  local c=$dir/containerd sock
  sock=$c/containerd.sock
  mkdir -p "$c" "$dir/cni/net.d" "$dir/kubelet" "$dir/pod-logs"
  local pause
  pause=$(image_ref pause)
  cat >"$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  restrict_oom_score_adj = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$c/runc"
TOML
  cat >"$dir/cni/net.d/10-promptfolio-dev.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "promptfolio-dev",
  "plugins": [{
    "type": "bridge", "bridge": "$node_bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam",
             "ranges": [[{"subnet": "$node_pod_cidr", "gateway": "$node_gateway"}]],
             "routes": [{"dst": "0.0.0.0/0"}]}
  }, {
    "type": "portmap", "capabilities": {"portMappings": true}
  }]
}
JSON
  start containerd --config "$c/config.toml"
  wait_for containerd 30 ctr --address "$sock" version
  local img
  for img in pause manager selector; do
    ctr --address "$sock" -n k8s.io images import "$root/bin/images/$img.tar" >/dev/null
  done

  start kube-scheduler --kubeconfig="$kubeconfig" --authentication-kubeconfig="$kubeconfig" \
    --authorization-kubeconfig="$kubeconfig" --leader-elect=false --secure-port=0

  local proxy_health proxy_metrics kubelet_health
  proxy_health=$(free_port); proxy_metrics=$(free_port); kubelet_health=$(free_port)
  cat >"$dir/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
bindAddress: $node_gateway
healthzBindAddress: 127.0.0.1:$proxy_health
metricsBindAddress: 127.0.0.1:$proxy_metrics
hostnameOverride: $node_name
clusterCIDR: $node_pod_cidr
nodePortAddresses: ["$node_gateway/32"]
oomScoreAdj: 0
clientConnection:
  kubeconfig: $kubeconfig
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
YAML
  start kube-proxy --config="$dir/kube-proxy.yaml"

  echo "nameserver 127.0.0.1" >"$dir/resolv.conf"
  cat >"$dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_gateway
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_health
tlsCertFile: $dir/pki/kubelet.crt
tlsPrivateKeyFile: $dir/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
resolvConf: $dir/resolv.conf
podLogsDir: $dir/pod-logs
clusterDomain: cluster.local
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
maxPods: 50
serializeImagePulls: false
YAML
  start kubelet --config="$dir/kubelet.yaml" --kubeconfig="$kubeconfig" --root-dir="$dir/kubelet" \
    --hostname-override="$node_name" --node-ip="$node_gateway"
  touch "$dir/node"
  wait_for "node $node_name" 120 "$assets/kubectl" --kubeconfig="$kubeconfig" get node "$node_name"
  "$assets/kubectl" --kubeconfig="$kubeconfig" wait --for=condition=Ready --timeout=120s "node/$node_name" >/dev/null
  log "node $node_name Ready (pods $node_pod_cidr on $node_bridge, Services $node_service_cidr)"
}

# node_down stops the node's processes and the control plane and removes what up created.
node_down() {
  local i
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    case ${components[$i]} in containerd) node_kill_pods ;; esac
    stop_pid "$dir/${components[$i]}.pid"
  done
  node_kill_pods
  node_unmount
  node_remove_netns
  node_remove_chains
  ip link del "$node_bridge" 2>/dev/null || true
  node_remove_cgroups
  node_restore_sysctls
  node_remove_paths
}

# node_kill_pods kills what runs in the pods' cgroups and the containerd shims of this node (by
# the address of this node's containerd in their command line), by process id.
node_kill_pods() {
  local pids=() f pid
  for f in /sys/fs/cgroup/*/kubepods; do
    [ -d "$f" ] || continue
    while read -r pid; do pids+=("$pid"); done < <(find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null)
  done
  for f in /proc/[0-9]*/cmdline; do
    if tr '\0' ' ' 2>/dev/null <"$f" | grep -q -- "-address $dir/containerd/containerd.sock"; then
      pid=${f#/proc/}; pids+=("${pid%/cmdline}")
    fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -9 "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
}

# node_unmount unmounts everything mounted under the cluster's directory or the runtime's state,
# deepest first.
node_unmount() {
  local m
  { awk '{print $5}' /proc/self/mountinfo | grep -E "^($dir/|/run/containerd/)" || true; } | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# node_remove_netns deletes the network namespaces created since up (their veths go with them).
node_remove_netns() {
  local ns
  for ns in $(ls /run/netns 2>/dev/null); do
    if ! grep -qx "$ns" "$dir/host/netns" 2>/dev/null; then ip netns delete "$ns" 2>/dev/null || true; fi
  done
}

# node_remove_chains removes the egress chain, then kube-proxy's rules (its own cleanup), then
# every chain that did not exist before up, with the rules that jump to it.
node_remove_chains() {
  if [ -x "$assets/kube-proxy" ]; then "$assets/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  [ -f "$dir/host/chains" ] || return 0
  local cmd t chain rule
  node_chains | while read -r cmd t chain; do
    grep -qx "$cmd $t $chain" "$dir/host/chains" && continue
    # Rules of other chains that jump to it, as delete commands.
    "$cmd" -w 5 -t "$t" -S | awk -v c="$chain" '$1 == "-A" && $0 ~ ("-j " c "( |$)") {sub(/^-A/, "-D"); print}' |
      while read -r rule; do eval "$cmd -w 5 -t $t $rule" || true; done
  done
  node_chains | while read -r cmd t chain; do
    grep -qx "$cmd $t $chain" "$dir/host/chains" && continue
    "$cmd" -w 5 -t "$t" -F "$chain" 2>/dev/null || true
  done
  node_chains | while read -r cmd t chain; do
    grep -qx "$cmd $t $chain" "$dir/host/chains" && continue
    "$cmd" -w 5 -t "$t" -X "$chain" 2>/dev/null || log "could not remove $cmd chain $t/$chain"
  done
}

# node_remove_cgroups removes the kubepods cgroups of every hierarchy, deepest first.
node_remove_cgroups() {
  local f
  for f in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$f" ] || continue
    find "$f" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ -d "$f" ] && log "could not remove cgroup $f"
  done
  return 0
}

node_restore_sysctls() {
  [ -f "$dir/host/sysctl" ] || return 0
  local line
  while read -r line; do
    [ "$(sysctl -n "${line%%=*}")" = "${line#*=}" ] || sysctl -q -w "$line" >/dev/null || log "could not restore $line"
  done <"$dir/host/sysctl"
}

node_remove_paths() {
  [ -f "$dir/host/paths" ] || return 0
  local p
  for p in "${node_paths[@]}"; do
    if [ -e "$p" ] && ! grep -qx "$p" "$dir/host/paths"; then rm -rf "$p" 2>/dev/null || log "could not remove $p"; fi
  done
}
