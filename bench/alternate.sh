#!/usr/bin/env bash
# bench/alternate.sh — the actix floor and variantd plugin mode, taking turns.
#
#   bench/alternate.sh [ROUNDS] [NAME=BINARY ...]
#
# On this VM one run's req/s moves by ±10–15% from minute to minute (the
# host, not the daemon), so a single run-peers table cannot resolve changes
# of a few percent. This alternates short measurements — the floor, then
# each variantd binary given (default: variantd=target/release/variantd) —
# for ROUNDS rounds (default 6) and prints every measurement and, per
# server, the median req/s, p50 and p99, and the median over rounds of its
# req/s and p99 against the floor of the same round (with how many rounds
# meet 0.9x and 1.2x); two or more binaries are also compared round by
# round. Comparing two builds of variantd: copy each binary aside
# and name both, e.g. `bench/alternate.sh 8 before=/tmp/v-old after=/tmp/v-new`.
#
# Same setup as run-peers: wrk -t1 -c32 on CPU 0 with run-peers' user_keys.lua
# (user0 … user9999), servers on CPU 1, variantd with bench/plugin-mode.toml.
# Needs the floor built once by ../shared/peers/run-peers.sh (it installs
# it). Each measurement: 2 s warm-up, then PEERS_DURATION (default 8s).
# Loopback only. Not a test: nothing fails on a timing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${PEERS_DIR:-$ROOT/../shared/peers}
STATE=${PEERS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/router-peers}
FLOOR=$STATE/cargo-target/release/actix-floor
LUA=$PEERS/wrk/user_keys.lua
SERVER_CPUS=${PEERS_SERVER_CPUS:-1}
WRK_CPUS=${PEERS_WRK_CPUS:-0}
DURATION=${PEERS_DURATION:-8s}
FLOOR_PORT=18301
VARIANTD_PORT=18401 # bench/plugin-mode.toml's

ROUNDS=6
if [[ ${1:-} =~ ^[0-9]+$ ]]; then ROUNDS=$1; shift; fi
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=("variantd=$ROOT/target/release/variantd")

[ -x "$FLOOR" ] || { echo "actix floor not built: run $PEERS/run-peers.sh actix-floor once" >&2; exit 2; }
[ -f "$LUA" ] || { echo "$LUA not found (set PEERS_DIR)" >&2; exit 2; }
for s in "${servers[@]}"; do
  [ -x "${s#*=}" ] || { echo "not an executable: ${s#*=} (from $s)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk not found (run-peers.sh installs it)" >&2; exit 2; }

cd "$ROOT"
mkdir -p var
results=$ROOT/var/alternate.tsv
: >"$results"
server_pid=
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { # PORT LOG
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$1/process/hello?user_key=user0" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server on :$1 did not answer; see $2" >&2
  exit 1
}

measure() { # NAME URL
  taskset -c "$WRK_CPUS" wrk -t1 -c32 -d2s -s "$LUA" "$2" >/dev/null
  local line
  line=$(taskset -c "$WRK_CPUS" wrk -t1 -c32 -d"$DURATION" --latency -s "$LUA" "$2" | grep PEERS_RESULT)
  # PEERS_RESULT key=value ... → NAME rps p50_us p99_us
  echo "$line" | awk -v n="$1" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%s\t%s\t%s\t%s\n", n, v["rps"], v["p50_us"], v["p99_us"] }' | tee -a "$results"
}

run_server() { # NAME PORT LOG COMMAND...
  local name=$1 port=$2 log=$3
  shift 3
  taskset -c "$SERVER_CPUS" "$@" >"$log" 2>&1 &
  server_pid=$!
  wait_port "$port" "$log"
  measure "$name" "http://127.0.0.1:$port/process/hello"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

echo "alternate: $ROUNDS rounds of floor, ${servers[*]%%=*}; wrk -t1 -c32 -d$DURATION"
printf "name\treq/s\tp50_us\tp99_us\n"
for round in $(seq 1 "$ROUNDS"); do
  run_server floor $FLOOR_PORT var/alternate-floor.log \
    env ACTIX_FLOOR_ADDR="127.0.0.1:$FLOOR_PORT" "$FLOOR"
  for s in "${servers[@]}"; do
    run_server "${s%%=*}" $VARIANTD_PORT "var/alternate-${s%%=*}.log" \
      "${s#*=}" --config bench/plugin-mode.toml
  done
done

echo
echo "medians over $ROUNDS rounds:"
python3 - "$results" <<'EOF'
import statistics, sys
median = statistics.median
rows = {}   # name -> [(rps, p50_us, p99_us)], one per round, in round order
for line in open(sys.argv[1]):
    name, rps, p50, p99 = line.split("\t")
    rows.setdefault(name, []).append((float(rps), int(p50), int(p99)))
floor = rows["floor"]
print(f"{'server':<12} {'req/s':>10} {'p50':>8} {'p99':>8}  per round vs floor: req/s (rounds >= 0.9), p99 (rounds <= 1.2)")
for name, rs in rows.items():
    # The VM drifts by 10-15% between minutes, so each server is compared
    # with the floor measured right before it, and the ratios' median kept.
    vs = [r[0] / f[0] for r, f in zip(rs, floor)]
    vs_p99 = [r[2] / f[2] for r, f in zip(rs, floor)]
    print(f"{name:<12} {median(r[0] for r in rs):>10.0f} {median(r[1] for r in rs) / 1000:>6.2f}ms"
          f" {median(r[2] for r in rs) / 1000:>6.2f}ms  {median(vs):.3f}x ({sum(v >= 0.9 for v in vs)}/{len(vs)}),"
          f" {median(vs_p99):.2f}x ({sum(v <= 1.2 for v in vs_p99)}/{len(vs_p99)})")
others = [n for n in rows if n != "floor"]
for a, b in zip(others, others[1:]):
    vs = [rb[0] / ra[0] for ra, rb in zip(rows[a], rows[b])]
    print(f"{b} vs {a}, per round: median {median(vs):.3f}x, faster in {sum(v > 1 for v in vs)}/{len(vs)}")
EOF
