#!/usr/bin/env bash
# Benchmarks of internal/bandit, next to the numpy loop (rng.beta + argmax)
# that a Python service would run per draw, in the same run. Prints machine
# facts and Markdown tables; docs/benchmarks.md ("Bandit core") holds a
# recorded run.
#
#   hack/bench-bandit.sh                  # 3 × 500ms per benchmark
#   BENCHTIME=200ms COUNT=1 hack/bench-bandit.sh   # quicker, noisier
#   MAX_LOAD=1.5 MAX_WAIT=600 hack/bench-bandit.sh # wait for a quiet machine
#   BENCH='Generator|BetaSample|Draw' hack/bench-bandit.sh   # the sampler only
#
# Every benchmark runs COUNT times; the tables show the smallest ns/op and
# cpu-ns/op (process CPU time per operation, from getrusage) and the largest
# cpu-ns/op, so the spread caused by other load on the machine is visible.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's python3-numpy lives in the system interpreter.
python=${PYTHON:-/usr/bin/python3}
benchtime=${BENCHTIME:-500ms}
count=${COUNT:-3}
bench=${BENCH:-.}
draws=${NUMPY_DRAWS:-200000}
max_load=${MAX_LOAD:-1.5}
max_wait=${MAX_WAIT:-300}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }

# Other builds come and go on a shared machine: wait a while for the
# one-minute load average to drop below max_load, then run regardless.
waited=0
while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l >= m) }' && [ "$waited" -lt "$max_wait" ]; do
	sleep 15
	waited=$((waited + 15))
done

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (waited ${waited}s for the 1-minute load to fall below $max_load)"
echo "- $(go version | cut -d' ' -f3-4), Python $("$python" -c 'import platform; print(platform.python_version())'), numpy $("$python" -c 'import numpy; print(numpy.__version__)')"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"

go test ./internal/bandit -run '^$' -bench "$bench" -benchtime "$benchtime" -count "$count" >"$raw"
read -r numpy_ns numpy_cpu < <("$python" hack/bandit/numpy_thompson.py 10 "$draws")
echo "- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

echo "## Results"
echo
echo "| benchmark | ns/op (wall, min) | cpu-ns/op (min) | cpu-ns/op (max) |"
echo "|---|---:|---:|---:|"
awk '/^Benchmark/ {
	name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
	if (!(name in wall)) { order[++n] = name; wall[name] = $3; lo[name] = $5; hi[name] = $5 }
	if ($3 + 0 < wall[name] + 0) wall[name] = $3
	if ($5 + 0 < lo[name] + 0) lo[name] = $5
	if ($5 + 0 > hi[name] + 0) hi[name] = $5
}
END { for (i = 1; i <= n; i++) printf "| %s | %s | %s | %s |\n", order[i], wall[order[i]], lo[order[i]], hi[order[i]] }' "$raw"
echo "| numpy loop: rng.beta + argmax, K=10 (best of 3) | $numpy_ns | $numpy_cpu | |"
echo

# The ratio to numpy, for Sampler.Draw on steady posteriors (the selector's
# case between feedbacks) and with every arm new at every draw (no reuse).
for variant in serial serial-all-new; do
	read -r go_ns go_cpu < <(awk -v want="BenchmarkDraw/K=10/$variant" '{ name = $1; sub(/-[0-9]+$/, "", name) }
		name == want { if (!w || $3 + 0 < w) w = $3 + 0; if (!c || $5 + 0 < c) c = $5 + 0 }
		END { print w, c }' "$raw")
	awk -v v="$variant" -v np="$numpy_ns" -v go="$go_ns" -v npc="$numpy_cpu" -v goc="$go_cpu" 'BEGIN {
		printf "- K=10 Sampler.Draw (%s): Go %.0f ns wall, %.0f ns CPU; numpy %.0f ns wall, %.0f ns CPU; numpy/Go = %.0fx wall, %.0fx CPU\n", v, go, goc, np, npc, np / go, npc / goc }'
done
