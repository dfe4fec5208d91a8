#!/usr/bin/env bash
# Benchmarks of internal/bandit, next to the numpy loop (rng.beta + argmax)
# that a Python service would run per draw. Prints machine facts and a
# Markdown table; docs/benchmarks.md ("Bandit core") holds a recorded run.
#
#   hack/bench-bandit.sh                 # 1s per benchmark
#   BENCHTIME=200ms hack/bench-bandit.sh # quicker, noisier
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's python3-numpy lives in the system interpreter.
python=${PYTHON:-/usr/bin/python3}
benchtime=${BENCHTIME:-1s}
draws=${NUMPY_DRAWS:-200000}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $(go version | cut -d' ' -f3-4), Python $("$python" -c 'import platform; print(platform.python_version())'), numpy $("$python" -c 'import numpy; print(numpy.__version__)')"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo

go test ./internal/bandit -run '^$' -bench . -benchtime "$benchtime" >"$raw"
read -r numpy_ns numpy_cpu < <("$python" hack/bandit/numpy_thompson.py 10 "$draws")

echo "## Results"
echo
echo "| benchmark | ns/op (wall) | cpu-ns/op |"
echo "|---|---:|---:|"
awk '/^Benchmark/ { name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name); printf "| %s | %s | %s |\n", name, $3, $5 }' "$raw"
echo "| numpy loop: rng.beta + argmax, K=10 | $numpy_ns | $numpy_cpu |"
echo
read -r go_ns go_cpu < <(awk '/^BenchmarkDraw\/K=10\/serial-/ { print $3, $5; exit }' "$raw")
awk -v np="$numpy_ns" -v go="$go_ns" -v npc="$numpy_cpu" -v goc="$go_cpu" 'BEGIN {
	printf "K=10 draw: Go %.0f ns wall, %.0f ns CPU; numpy %.0f ns wall, %.0f ns CPU; numpy/Go = %.0fx wall, %.0fx CPU\n", go, goc, np, npc, np / go, npc / goc }'
