#!/usr/bin/env python3
"""Writes Prometheus file-discovery targets for what the chart's monitors select, read with kubectl:
the endpoints of the manager's metrics Service (label app.kubernetes.io/component=metrics, port
"metrics") in the release namespace, and every pod with a container port "pf-selector" (the
injected selector) in the selector namespace.

Usage: discover.py KUBECTL RELEASE_NAMESPACE NAMESPACE OUT_DIR   (writes manager.json, selectors.json)"""
import json
import os
import subprocess
import sys


def kubectl(kubectl_bin, *args):
    out = subprocess.run([kubectl_bin, *args, "-o", "json"], check=True, capture_output=True, timeout=20).stdout
    return json.loads(out)["items"]


def write(path, groups):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(groups, f)
    os.replace(tmp, path)


def main():
    kubectl_bin, release_ns, ns, out = sys.argv[1:5]
    manager = []
    for s in kubectl(kubectl_bin, "get", "endpointslices", "-n", release_ns, "-l", "app.kubernetes.io/component=metrics"):
        ports = [p["port"] for p in s.get("ports") or [] if p.get("name") == "metrics"]
        for e in s.get("endpoints") or []:
            if not e.get("conditions", {}).get("ready", True):
                continue
            pod = (e.get("targetRef") or {}).get("name", "")
            for a in e["addresses"]:
                for p in ports:
                    manager.append({"targets": [f"{a}:{p}"], "labels": {"pod": pod}})
    selectors = []
    for pod in kubectl(kubectl_bin, "get", "pods", "-n", ns):
        ip = pod.get("status", {}).get("podIP")
        if not ip or pod["metadata"].get("deletionTimestamp"):
            continue
        spec = pod["spec"]
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            for p in c.get("ports") or []:
                if p.get("name") == "pf-selector":
                    selectors.append({"targets": [f"{ip}:{p['containerPort']}"], "labels": {"pod": pod["metadata"]["name"]}})
    write(os.path.join(out, "manager.json"), manager)
    write(os.path.join(out, "selectors.json"), selectors)


if __name__ == "__main__":
    main()
