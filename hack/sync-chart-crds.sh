#!/usr/bin/env bash
# Copies what controller-gen generates into the Helm chart, so that the chart installs exactly the
# CRDs and the manager permissions of the code:
#   config/crd/bases/*.yaml  -> charts/promptfolio/files/crds/
#   config/rbac/role.yaml    -> charts/promptfolio/files/manager-role.yaml (when it exists)
# The chart renders them from files/ (not templates/) because the CRDs' descriptions contain
# "{{placeholder}}", which Helm would read as template actions.
#
# Usage: hack/sync-chart-crds.sh          copy
#        hack/sync-chart-crds.sh --check  exit 1 when the chart's copies differ (for make verify)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/charts/promptfolio"
check=false
[[ "${1:-}" == "--check" ]] && check=true

stale=0
sync() { # sync SRC DST
  if $check; then
    if ! cmp -s "$1" "$2"; then echo "stale: ${2#"$root"/} (from ${1#"$root"/})"; stale=1; fi
  else
    cp "$1" "$2"
  fi
}

mkdir -p "$chart/files/crds"
for src in "$root"/config/crd/bases/*.yaml; do
  sync "$src" "$chart/files/crds/$(basename "$src")"
done
for dst in "$chart"/files/crds/*.yaml; do
  if [[ ! -e "$root/config/crd/bases/$(basename "$dst")" ]]; then
    if $check; then echo "stale: ${dst#"$root"/} has no source"; stale=1; else rm "$dst"; fi
  fi
done
if [[ -f "$root/config/rbac/role.yaml" ]]; then
  sync "$root/config/rbac/role.yaml" "$chart/files/manager-role.yaml"
fi
if [[ $stale -ne 0 ]]; then
  echo "run hack/sync-chart-crds.sh (make manifests) and commit the chart" >&2
  exit 1
fi
