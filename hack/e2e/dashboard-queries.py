#!/usr/bin/env python3
"""Runs every query of the chart's Grafana dashboard against a Prometheus and fails unless each
returns data. Usage: dashboard-queries.py DASHBOARD_JSON PROMETHEUS_URL

Grafana's variables are replaced as Grafana would with "All" selected: $namespace and $portfolio
match everything, $__rate_interval is four scrape intervals."""
import json
import sys
import urllib.parse
import urllib.request

SUBSTITUTIONS = {"$namespace": ".*", "$portfolio": ".*", "$__rate_interval": "20s"}


def queries(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield panel.get("title", "?"), target["expr"]
    for var in dashboard.get("templating", {}).get("list", []):
        q = var.get("query")
        if isinstance(q, dict) and q.get("query", "").startswith("label_values("):
            # label_values(metric, label) has data when the metric has series.
            inner = q["query"][len("label_values("):-1]
            yield "variable " + var["name"], inner.rsplit(",", 1)[0].strip()


def main():
    dashboard = json.load(open(sys.argv[1]))
    url = sys.argv[2].rstrip("/")
    empty = []
    for title, expr in queries(dashboard):
        for k, v in SUBSTITUTIONS.items():
            expr = expr.replace(k, v)
        body = urllib.request.urlopen(url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=10).read()
        result = json.loads(body)
        series = result.get("data", {}).get("result", []) if result.get("status") == "success" else []
        print(f"{len(series):4d} series  {title}: {expr[:100]}")
        if not series:
            empty.append(f"{title}: {expr} ({result.get('error', 'no data')})")
    if empty:
        print("queries without data:\n  " + "\n  ".join(empty))
        sys.exit(1)


if __name__ == "__main__":
    main()
