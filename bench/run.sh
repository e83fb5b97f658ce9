#!/usr/bin/env bash
# bench/run.sh — variantd against its peers, in one run, one table.
#
#   bench/run.sh            build release, start variantd in plugin mode
#                           (bench/plugin-mode.toml) and proxy mode
#                           (bench/proxy-mode.toml), and measure both with
#                           ../shared/peers/run-peers.sh in the same run as
#                           the actix floor, nginx split_clients and the
#                           Python replica. Prints req/s, p50, p99 and ratios.
#
# Environment: PEERS_DIR (default ../shared/peers beside the project), and
# everything run-peers.sh reads (PEERS_DURATION, PEERS_CONNECTIONS, ...).
# Pinning as the peers do it: every server on CPU 1 (PEERS_SERVER_CPUS),
# wrk on CPU 0 (PEERS_WRK_CPUS). Loopback only. Not a test: nothing fails on
# a timing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${PEERS_DIR:-$ROOT/../shared/peers}
SERVER_CPUS=${PEERS_SERVER_CPUS:-1}
[ -x "$PEERS/run-peers.sh" ] || { echo "run-peers.sh not found in $PEERS (set PEERS_DIR)" >&2; exit 2; }
cd "$ROOT"

echo "bench: cargo build --release --workspace"
cargo build --release --workspace --locked --quiet

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start() { # NAME CONFIG PORT
  local log=$ROOT/var/bench-$1.log
  mkdir -p "$ROOT/var"
  taskset -c "$SERVER_CPUS" "$ROOT/target/release/variantd" --config "$2" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "variantd listening" "$log" && return 0
    sleep 0.1
  done
  echo "variantd ($1) did not start; see $log" >&2
  exit 1
}
start plugin "$ROOT/bench/plugin-mode.toml" 18401
start proxy "$ROOT/bench/proxy-mode.toml" 18402

out=$ROOT/var/bench-peers.out
"$PEERS/run-peers.sh" all \
  --target "variantd-plugin=http://127.0.0.1:18401/process/hello" \
  --target "variantd-proxy=http://127.0.0.1:18402/process/hello" \
  --variant-backends nginx | tee "$out"

# The results section: "NAME  N req/s   p50 Xms   p99 Yms ..."
awk '
  /^== results/ { on = 1; next }
  on && / req\/s/ {
    name = $1; rps[name] = $2; p50[name] = $5; p99[name] = $7; order[++n] = name
    busy[name] = ($0 ~ /BUSY|busy/) ? " [busy]" : ""
  }
  function ms(s) { sub(/ms$/, "", s); return s + 0 }
  function ratio(a, b) { return (b > 0) ? sprintf("%.2fx", a / b) : "-" }
  END {
    printf "\n%-16s %12s %10s %10s   %-14s %-14s %-14s\n", "server", "req/s", "p50", "p99", "vs actix-floor", "vs nginx-split", "vs seed-replica"
    for (i = 1; i <= n; i++) {
      s = order[i]
      printf "%-16s %12s %10s %10s   %-14s %-14s %-14s%s\n", s, rps[s], p50[s], p99[s],
        ratio(rps[s], rps["actix-floor"]) " p99 " ratio(ms(p99[s]), ms(p99["actix-floor"])),
        ratio(rps[s], rps["nginx-split"]), ratio(rps[s], rps["seed-replica"]), busy[s]
    }
  }' "$out"
