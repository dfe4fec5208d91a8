# Shell helpers shared by the dev-cluster and demo scripts. Source it; it defines functions only.

# free_port prints a TCP port on 127.0.0.1 that nothing listens on. It picks from 20000–32767,
# below the kernel's ephemeral range (32768 and up by default), so that an outgoing connection
# cannot take the port between this check and the listener's bind.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12768))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port found" >&2
  return 1
}

# image_ref prints the reference an image tarball of `make images` names (bin/images/<name>.tar).
image_ref() {
  tar -xOf "$root/bin/images/$1.tar" manifest.json | sed -n 's/.*"RepoTags":\["\([^"]*\)".*/\1/p'
}

# install_chart installs the chart as release "promptfolio" in promptfolio-system with the images
# of `make images` (pull policy Never: they are loaded on the node) and selectors in namespace
# $1, and waits until the manager is Ready. Further arguments go to helm. Needs $HELM.
install_chart() {
  "$HELM" install promptfolio "$root/charts/promptfolio" -n promptfolio-system --create-namespace \
    --wait --timeout 180s --set image.pullPolicy=Never --set "selector.namespaces={$1}" \
    --set manager.logFormat=console --set "manager.extraArgs={--statistics-interval=2s}" "${@:2}"
}

# apply_workload applies hack/e2e/workload.yaml: the `promptfolio workload` Deployment of two
# replicas annotated for the selector sidecar. Arguments: namespace, portfolio, hidden rates.
apply_workload() {
  sed -e "s|IMAGE|$(image_ref manager)|" -e "s|RATES|$3|" -e "s|NAMESPACE|$1|g" -e "s|PORTFOLIO|$2|g" \
    "$root/hack/e2e/workload.yaml" | "$assets/kubectl" apply -f - >/dev/null
}
