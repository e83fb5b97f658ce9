#!/usr/bin/env bash
# bench/alternate.sh — variantd and the peer it is held against, taking turns.
#
#   bench/alternate.sh [--proxy] [ROUNDS] [NAME=BINARY ...]
#
# On this VM one run's req/s moves by 10–30% from minute to minute (the
# host, not the daemon), so a single run-peers table cannot resolve changes
# of a few percent. This alternates short measurements — the peer and
# each variantd binary given (default: variantd=target/release/variantd),
# the order turned by one each round so that no server always runs in the
# same slot — for ROUNDS rounds (default 6) and prints every measurement and, per
# server, the median req/s, p50 and p99, and the median over rounds of its
# req/s and p99 against the peer of the same round (with how many rounds
# meet the issue's targets); two or more binaries are also compared round
# by round. Comparing two builds of variantd: copy each binary aside and
# name both, e.g. `bench/alternate.sh 8 before=/tmp/v-old after=/tmp/v-new`.
#
# Plugin mode (the default): the actix floor against variantd with
# bench/plugin-mode.toml; targets 0.9x the floor's req/s, 1.2x its p99.
# --proxy: nginx split_clients against variantd with bench/proxy-mode.toml,
# in front of the nginx variant backends (:18211/:18212, started here for
# all rounds); target 1.0x nginx-split's req/s.
#
# Same setup as run-peers: wrk -t1 -c32 on CPU 0 with run-peers' user_keys.lua
# (user0 … user9999), servers on CPU 1. Needs the floor built once by
# ../shared/peers/run-peers.sh (it installs it), and nginx for --proxy. Each
# measurement: 2 s warm-up, then PEERS_DURATION (default 8s).
# Loopback only. Not a test: nothing fails on a timing.
set -euo pipefail
# shellcheck source=bench/peers-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/peers-env.sh"
DURATION=${PEERS_DURATION:-8s}
FLOOR_PORT=18301

mode=plugin
if [ "${1:-}" = --proxy ]; then mode=proxy; shift; fi
ROUNDS=6
if [[ ${1:-} =~ ^[0-9]+$ ]]; then ROUNDS=$1; shift; fi
if [ $mode = plugin ]; then
  PEER=floor PEER_PORT=$FLOOR_PORT CONFIG=bench/plugin-mode.toml VARIANTD_PORT=18401
  TARGET_RPS=0.9 TARGET_P99=1.2
else
  PEER=nginx-split PEER_PORT=18201 CONFIG=bench/proxy-mode.toml VARIANTD_PORT=18402
  TARGET_RPS=1.0 TARGET_P99=
  command -v nginx >/dev/null || { echo "nginx not found (run-peers.sh installs it)" >&2; exit 2; }
fi
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=("variantd=$ROOT/target/release/variantd")

if [ $mode = plugin ] && [ ! -x "$FLOOR" ]; then
  echo "actix floor not built: run $PEERS/run-peers.sh actix-floor once" >&2; exit 2
fi
[ -f "$LUA" ] || { echo "$LUA not found (set PEERS_DIR)" >&2; exit 2; }
for s in "${servers[@]}"; do
  [ -x "${s#*=}" ] || { echo "not an executable: ${s#*=} (from $s)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk not found (run-peers.sh installs it)" >&2; exit 2; }

cd "$ROOT"
mkdir -p var
results=$ROOT/var/alternate.tsv
: >"$results"
server_pid= backends_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  [ -z "$backends_pid" ] || kill "$backends_pid" 2>/dev/null || true
}
trap cleanup EXIT

# An nginx from one of run-peers' templates, in var/alternate-NAME/.
nginx_from() { # NAME TEMPLATE PORT_FRONT PORT_A PORT_B
  local run=$ROOT/var/alternate-$1
  rm -rf "$run"; mkdir -p "$run/tmp"
  sed -e "s#@RUN@#$run#g" -e "s#@PORT_FRONT@#$3#g" -e "s#@PORT_A@#$4#g" -e "s#@PORT_B@#$5#g" \
    "$2" >"$run/nginx.conf"
  echo nginx -p "$run" -e "$run/nginx-error.log" -c "$run/nginx.conf"
}

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

if [ $mode = proxy ]; then
  # shellcheck disable=SC2046 # the command nginx_from prints, word by word
  taskset -c "$SERVER_CPUS" $(nginx_from backends "$PEERS/nginx-split/variant-backends.conf.template" 0 18211 18212) \
    >var/alternate-backends.log 2>&1 &
  backends_pid=$!
  sleep 0.5
  read -r -a split_cmd <<<"$(nginx_from split "$PEERS/nginx-split/nginx.conf.template" "$PEER_PORT" 18202 18203)"
fi

echo "alternate ($mode mode): $ROUNDS rounds of $PEER, ${servers[*]%%=*}; wrk -t1 -c32 -d$DURATION"
printf "name\treq/s\tp50_us\tp99_us\n"
# Entry 0 is the peer, entry k the k-th variantd binary.
run_entry() { # INDEX
  if [ "$1" -eq 0 ]; then
    if [ $mode = plugin ]; then
      run_server floor $FLOOR_PORT var/alternate-floor.log \
        env ACTIX_FLOOR_ADDR="127.0.0.1:$FLOOR_PORT" "$FLOOR"
    else
      run_server nginx-split "$PEER_PORT" var/alternate-nginx-split.log "${split_cmd[@]}"
    fi
  else
    local s=${servers[$(($1 - 1))]}
    run_server "${s%%=*}" $VARIANTD_PORT "var/alternate-${s%%=*}.log" \
      "${s#*=}" --config "$CONFIG"
  fi
}
# The order turns by one each round: with a fixed order the same binary
# of two identical-but-for-a-change builds came out ~10% slower in the
# second slot, whichever build it was (8 rounds each way on this VM).
entries=$((${#servers[@]} + 1))
for round in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((entries - 1))); do
    run_entry $(((round - 1 + i) % entries))
  done
done

echo
echo "medians over $ROUNDS rounds:"
python3 - "$results" "$PEER" "$TARGET_RPS" "$TARGET_P99" <<'EOF'
import statistics, sys
median = statistics.median
peer_name, target_rps = sys.argv[2], float(sys.argv[3])
target_p99 = float(sys.argv[4]) if sys.argv[4] else None
rows = {}   # name -> [(rps, p50_us, p99_us)], one per round, in round order
for line in open(sys.argv[1]):
    name, rps, p50, p99 = line.split("\t")
    rows.setdefault(name, []).append((float(rps), int(p50), int(p99)))
peer = rows[peer_name]
p99_head = f", p99 (rounds <= {target_p99})" if target_p99 else ", p99"
print(f"{'server':<12} {'req/s':>10} {'p50':>8} {'p99':>8}  per round vs {peer_name}: req/s (rounds >= {target_rps}){p99_head}")
for name, rs in rows.items():
    # The VM drifts by 10-30% between minutes, so each server is compared
    # with the peer measured in the same round, and the ratios' median kept.
    vs = [r[0] / f[0] for r, f in zip(rs, peer)]
    vs_p99 = [r[2] / f[2] for r, f in zip(rs, peer)]
    p99_met = f" ({sum(v <= target_p99 for v in vs_p99)}/{len(vs_p99)})" if target_p99 else ""
    print(f"{name:<12} {median(r[0] for r in rs):>10.0f} {median(r[1] for r in rs) / 1000:>6.2f}ms"
          f" {median(r[2] for r in rs) / 1000:>6.2f}ms  {median(vs):.3f}x ({sum(v >= target_rps for v in vs)}/{len(vs)}),"
          f" {median(vs_p99):.2f}x{p99_met}")
others = [n for n in rows if n != peer_name]
for a, b in zip(others, others[1:]):
    vs = [rb[0] / ra[0] for ra, rb in zip(rows[a], rows[b])]
    print(f"{b} vs {a}, per round: median {median(vs):.3f}x, faster in {sum(v > 1 for v in vs)}/{len(vs)}")
EOF
