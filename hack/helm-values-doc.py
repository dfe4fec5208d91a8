#!/usr/bin/env python3
"""Writes the values table of docs/helm.md from the "# -- <key> <description>" comments of
charts/promptfolio/values.yaml, between the markers <!-- values:begin --> and <!-- values:end -->.

Usage: hack/helm-values-doc.py [--check]   (--check exits 1 when docs/helm.md is stale)
Needs PyYAML.
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
VALUES = ROOT / "charts" / "promptfolio" / "values.yaml"
DOC = ROOT / "docs" / "helm.md"
BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"


def lookup(values, key):
    for part in key.split("."):
        values = values.get(part) if isinstance(values, dict) else None
    return values


def table():
    lines = VALUES.read_text().splitlines()
    values = yaml.safe_load(VALUES.read_text())
    rows = ["| Value | Default | Description |", "|---|---|---|"]
    i = 0
    while i < len(lines):
        m = re.match(r"\s*# -- ([\w.]+)([;:,]?) (.*)", lines[i])
        i += 1
        if not m:
            continue
        key = m.group(1)
        # The comments start with the value's name: keep its last part as the subject.
        desc = [key.rsplit(".", 1)[-1] + m.group(2) + " " + m.group(3)]
        while i < len(lines) and re.match(r"\s*# (?!--)", lines[i]):
            desc.append(lines[i].strip()[2:])
            i += 1
        default = yaml.safe_dump(lookup(values, key), default_flow_style=True, width=10000).strip()
        default = default.removesuffix("...").strip()
        text = " ".join(desc).replace("|", "\\|")
        rows.append(f"| `{key}` | `{default}` | {text} |")
    return "\n".join(rows)


def main():
    doc = DOC.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    new = doc[:start] + "\n" + table() + "\n" + doc[end:]
    if "--check" in sys.argv[1:]:
        if new != doc:
            print("docs/helm.md is stale: run hack/helm-values-doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
