#!/usr/bin/env bash
# Benchmarks the selector on 127.0.0.1 against a minimal net/http server answering a constant
# JSON body, in one run: draw and reward requests/s and p50/p99 latency (K = 10 arms), selector
# RSS with 100 arms, and API-server report writes per flush interval at 10k rewards/s. Rewards are
# measured against a selector with memory acknowledgement and one with disk acknowledgement (the
# sidecar's default: a group-committed write-ahead record in a state directory under $TMPDIR).
# Needs wrk (Debian package) and the control-plane binaries (make envtest-assets).
# The selector is the selector-only build (make build: bin/promptfolio-selector), as in the sidecar.
# Baseline and selector runs alternate for ROUNDS rounds (default 4), in the order AB BA AB BA, so
# that a slow spell or a drift of the shared machine (CPU steal on a VM) hits both alike; the ratio
# is total selector requests over total baseline requests.
# CONNS (default 32) is wrk's number of connections; a list ("32 256") runs the reward rounds at
# each, every selector against a baseline measured at the same concurrency in the same round, and
# labels the rows reward@32, reward-disk@256 and so on (the draw rounds use the first). REWARD_ONLY=1
# runs the reward rounds alone: no draw rounds (the number of reward bodies is then sized by one
# short draw run), no report writes, no RSS.
# Usage: hack/bench-selector.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${ROUNDS:-4}
threads=${THREADS:-2}
conns_list=(${CONNS:-32})
conns=${conns_list[0]}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
CGO_ENABLED=0 go build -trimpath -o "$work/promptfolio-selector" ./cmd/promptfolio-selector
go build -o "$work/benchenv" ./internal/selector/benchenv

"$work/benchenv" env -dir "$work" -addr 127.0.0.1:18090 >"$work/env.log" 2>&1 & pids+=($!)
for _ in $(seq 1 240); do grep -q ready "$work/env.log" && break; sleep 0.5; done
grep -q ready "$work/env.log" || { cat "$work/env.log" >&2; exit 1; }
ns=$(cat "$work/namespace")

selector() { # name port portfolio [flags]
  "$work/promptfolio-selector" selector --kubeconfig "$work/kubeconfig" --namespace "$ns" --portfolios "$3" \
    --decision-key-file "$work/key" --listen "127.0.0.1:$2" --writer "bench-$1" "${@:4}" >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$2/readyz" >/dev/null && return; sleep 0.5; done
  cat "$work/$1.log" >&2; exit 1
}
selector k10 18088 bench --ack memory
selector k10disk 18092 bench --ack disk --state-dir "$work/state"
"$work/benchenv" baseline -addr 127.0.0.1:18089 & pids+=($!)
sleep 0.5

cat >"$work/reward.lua" <<'LUA'
local bodies = {}
for line in io.lines(os.getenv("TOKENS")) do bodies[#bodies + 1] = line end
local i = 0
local thread_id = 0
local threads = tonumber(os.getenv("THREADS"))
function setup(thread) thread:set("id", thread_id); thread_id = thread_id + 1 end
function init(args) i = id end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + threads
  if i > #bodies then i = (i % threads) + 1 end
  return wrk.format(nil, nil, nil, bodies[i])
end
LUA

run() { # label round url [lua [connections]]
  local extra=()
  [ -n "${4:-}" ] && extra=(-s "$4")
  wrk -t"$threads" -c"${5:-$conns}" -d"${secs}s" --latency "${extra[@]}" "$3" >"$work/$1-$2.wrk"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1-$2.wrk")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1-$2.wrk")
  p99=$(awk '$1=="99%" {print $2}' "$work/$1-$2.wrk")
  echo "$1 $2 $rps $p50 $p99"
}

echo "# run of $(date -u +%FT%TZ), ${secs}s per wrk run, $rounds rounds, $threads threads, ${conns_list[*]} connections, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# state directory of the disk selector: $(df -T "$work" | awk 'NR == 2 {print $1, $2}')"
results=$work/results
# pair label-A url-A label-B url-B round [lua]: both runs of a round, swapped in even rounds.
pair() {
  if (($5 % 2)); then run "$1" "$5" "$2" "${6:-}"; run "$3" "$5" "$4" "${6:-}"
  else run "$3" "$5" "$4" "${6:-}"; run "$1" "$5" "$2" "${6:-}"; fi
}
if [ -z "${REWARD_ONLY:-}" ]; then
  for r in $(seq 1 "$rounds"); do
    pair baseline "http://127.0.0.1:18089/v1/draw?portfolio=bench" draw "http://127.0.0.1:18088/v1/draw?portfolio=bench" "$r"
  done >"$results"
else
  run draw 0 "http://127.0.0.1:18088/v1/draw?portfolio=bench" >"$results"
fi
# Reward bodies: each round gets fresh decisions, enough that none is sent twice. The reward
# baseline gets the very same POST requests from the same wrk script, so the ratio compares the
# servers and not the load generator's Lua work. Rewards at many connections can outrun draws at
# the first, hence the margin.
n=$(awk '$1=="draw" && $3 > max {max = $3} END {printf "%d", max * '"$secs"' * 1.6}' "$results")
[ -n "${REWARD_ONLY:-}" ] && sed -i '/^draw /d' "$results"
for r in $(seq 1 "$rounds"); do
  for c in "${conns_list[@]}"; do
    # Each selector is sent decisions it drew itself: one drawn elsewhere would be forwarded to
    # the selector that drew it (its home). The two token files hold requests of the same sizes.
    "$work/benchenv" tokens -url http://127.0.0.1:18088 -portfolio bench -n "$n" >"$work/tokens"
    "$work/benchenv" tokens -url http://127.0.0.1:18092 -portfolio bench -n "$n" >"$work/tokens-disk"
    # The three servers in an order that rotates with the round.
    at=""
    ((${#conns_list[@]} > 1)) && at="@$c"
    names=(baseline-post reward reward-disk) ports=(18089 18088 18092) tokens=("$work/tokens" "$work/tokens" "$work/tokens-disk")
    for k in 0 1 2; do
      i=$(((k + r) % 3))
      TOKENS="${tokens[i]}" THREADS=$threads run "${names[i]}$at" "$r" "http://127.0.0.1:${ports[i]}/v1/reward" "$work/reward.lua" "$c"
    done
  done
done >>"$results"
echo "| server | requests/s (mean of rounds) | p50 (median) | p99 (median) | per-round ratio | ratio to its baseline |"
echo "|---|---|---|---|---|---|"
awk -v rounds="$rounds" '
  function median(list,    a, n, i, j, t) { n = split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (ms(a[j]) < ms(a[i])) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
  function ms(v) { return v ~ /us$/ ? v / 1000 : v ~ /ms$/ ? v + 0 : v * 1000 }
  { sum[$1] += $3; rps[$1, $2] = $3; p50[$1] = p50[$1] " " $4; p99[$1] = p99[$1] " " $5; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  END {
    for (i = 1; i <= k; i++) {
      s = order[i]; at = index(s, "@") ? substr(s, index(s, "@")) : ""
      base = (s ~ /post|reward/ ? "baseline-post" : "baseline") at; per = ""
      for (r = 1; r <= rounds; r++) per = per sprintf("%s%.2f", r > 1 ? " " : "", rps[s, r] / rps[base, r])
      printf "| %s | %.0f | %s | %s | %s | %.2f |\n", s, sum[s] / rounds, median(p50[s]), median(p99[s]), per, sum[s] / sum[base]
    }
  }' "$results"
non202=$(cat "$work"/reward*.wrk | awk '/Non-2xx/ {n += $5} END {print n + 0}')
echo "reward answers other than 2xx: $non202 (duplicates would show here)"
if [ -n "${REWARD_ONLY:-}" ]; then
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

# API-server report writes per flush interval over HTTP, at whatever rate the load generator
# reaches on this machine (often well below 10k/s on a small, busy one).
w0=$(curl -fs http://127.0.0.1:18090/)
load=$("$work/benchenv" load -url http://127.0.0.1:18088 -portfolio bench -rate 10000 -for "${secs}s")
sleep 2
w1=$(curl -fs http://127.0.0.1:18090/)
echo "load over HTTP: $load"
awk -v w=$((w1 - w0)) -v s="$secs" 'BEGIN {printf "report writes over HTTP: %d in %ss for 10 arms = %.2f writes per 1s flush interval (one report holds every arm)\n", w, s, w / s}'

# RSS with 100 arms: after the cache synced, under draw and reward traffic, and idle again.
# RssAnon is what the process allocated; RssFile is the binary's code and read-only data mapped
# from the page cache (shared by processes of the same file, and reclaimable).
selector k100 18091 wide
pid=$(pgrep -f -- "--writer bench-k100" | head -1)
rss() { awk '/VmRSS|RssAnon|RssFile/ {printf "%s %.1f MiB  ", $1, $2/1024}' /proc/"$pid"/status; }
sleep 3
echo "selector with 100 arms, idle after sync: $(rss)"
"$work/benchenv" load -url http://127.0.0.1:18091 -portfolio wide -rate 5000 -for 10s >"$work/k100.load" &
lp=$!
sleep 8
echo "selector with 100 arms, under load:      $(rss)"
wait "$lp"
sleep 10
echo "selector with 100 arms, idle 10s after:  $(rss)peak $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/"$pid"/status); load: $(cat "$work/k100.load")"

# Report writes per flush interval at a paced 10k and 100 rewards/s, through the reward handler
# in process against a real API server (internal/selector/writes_test.go).
if [ -z "${SKIP_WRITES:-}" ]; then
  SELECTOR_WRITES=1 go test ./internal/selector -run TestWritesPerFlushInterval -count=1 -v 2>&1 | grep -E 'writes_test.go|^(ok|FAIL|---)'
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
