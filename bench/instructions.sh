#!/usr/bin/env bash
# bench/instructions.sh — instructions per request, counted, not timed.
#
#   bench/instructions.sh [SERVER ...]
#
# SERVER: floor, plugin, nginx-front, proxy (default: all four, in that order)
#
# On this VM req/s drifts by 10–30% from minute to minute, for every server
# alike, so a change of a few percent cannot be seen in wrk's numbers. This
# counts instead: each server runs under valgrind's callgrind, is warmed up
# with instrumentation off (every user key seen, every decision cached), then
# counts the instructions it executes — all threads, user space only —
# while wrk sends it PEERS_DURATION (default 10s) of requests, and divides
# by the requests answered. The same binary and inputs give the same count
# to within a fraction of a percent, whatever else the host is doing.
#
# The pairs to read: floor vs plugin (the actix floor against plugin mode)
# and nginx-front vs proxy (nginx as a separate front vs proxy mode, both in
# front of the same nginx variant backends, which are not counted). What it
# does not see: the kernel (syscalls, TCP, context switches — use strace -c
# and bench/run.sh's CPU split for those), and cache misses or branch
# mispredictions; so fewer instructions does not always mean more req/s.
#
# memset and memcpy are made to use vector loops rather than `rep stosb` /
# `rep movsb` (GLIBC_TUNABLES below): valgrind counts each byte of a rep
# string instruction as one instruction, which would make a 3 KB memset
# (actix-http zeroes its header index per request) look like 3,000.
#
# INSTRUCTIONS_NO_BUILD=1 counts target/release as it is (no build first).
#
# CALLGRIND_ARGS adds valgrind options, e.g. "--cache-sim=yes" for simulated
# cache misses (I1mr, D1mr, DLmr in the callgrind files; slower).
#
# Needs valgrind (installed with apt-get if missing), nginx, wrk, and the
# floor built once by ../shared/peers/run-peers.sh. Callgrind files stay in
# var/instructions/ for callgrind_annotate. Loopback only. Not a test.
set -euo pipefail
# shellcheck source=bench/peers-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/peers-env.sh"
DURATION=${PEERS_DURATION:-10s}
export PEERS_USER_KEYS=${PEERS_USER_KEYS:-10000}
export GLIBC_TUNABLES=glibc.cpu.x86_rep_stosb_threshold=0x40000000:glibc.cpu.x86_rep_movsb_threshold=0x40000000
OUT=$ROOT/var/instructions

servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(floor plugin nginx-front proxy)
for s in "${servers[@]}"; do
  case $s in floor|plugin|nginx-front|proxy) ;; *) echo "unknown server: $s" >&2; exit 2 ;; esac
done

if ! command -v valgrind >/dev/null; then
  echo "instructions: apt-get install valgrind"
  apt-get install -y -q valgrind >/dev/null
fi
command -v wrk >/dev/null || { echo "wrk not found (run-peers.sh installs it)" >&2; exit 2; }
[ -f "$LUA" ] || { echo "$LUA not found (set PEERS_DIR)" >&2; exit 2; }
if [[ " ${servers[*]} " == *" floor "* ]] && [ ! -x "$FLOOR" ]; then
  echo "actix floor not built: run $PEERS/run-peers.sh actix-floor once" >&2; exit 2
fi

cd "$ROOT"
if [ -z "${INSTRUCTIONS_NO_BUILD:-}" ]; then
  echo "instructions: cargo build --release --workspace"
  cargo build --release --workspace --locked --quiet
fi
rm -rf "$OUT"; mkdir -p "$OUT"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# nginx for nginx-front and proxy mode: the variant backends (not counted),
# and the front itself as one process (master_process off), so the process
# valgrind runs is the one that serves.
nginx_conf() { # NAME TEMPLATE [SED ...]
  local run=$OUT/$1 template=$2
  shift 2
  mkdir -p "$run/tmp"
  sed -e "s#@RUN@#$run#g" "$@" "$template" >"$run/nginx.conf"
  echo "$run"
}
backends_up=
variant_backends() {
  [ -z "$backends_up" ] || return 0
  local run
  run=$(nginx_conf backends "$PEERS/nginx-split/variant-backends.conf.template" -e "s#@PORT_A@#18211#g" -e "s#@PORT_B@#18212#g")
  taskset -c "$SERVER_CPUS" nginx -p "$run" -e "$run/nginx-error.log" -c "$run/nginx.conf" >"$run/out.log" 2>&1 &
  pids+=($!)
  backends_up=1
  sleep 0.5
}

# The sum of one counter in a Prometheus text page (0 when absent).
metric() { { curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } | awk -v m="$2" '$1 ~ "^"m"([{]|$)" { n += $NF } END { printf "%d", n }'; }

# Count one server: NAME PORT COMMAND...
count() {
  local name=$1 port=$2
  shift 2
  local url="http://127.0.0.1:$port/process/hello"
  # shellcheck disable=SC2086 # CALLGRIND_ARGS is a list of options
  taskset -c "$SERVER_CPUS" valgrind --tool=callgrind --instr-atstart=no ${CALLGRIND_ARGS:-} \
    --callgrind-out-file="$OUT/$name.callgrind" "$@" >"$OUT/$name.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$url?user_key=user0" 2>/dev/null && break
    sleep 0.2
  done
  # Warm-up, uninstrumented: two passes over the user keys at least.
  taskset -c "$WRK_CPUS" wrk -t1 -c32 -d10s -s "$LUA" "$url" >/dev/null
  local exposures_before exposures_after
  exposures_before=$(metric "$port" variantd_exposures_total)
  callgrind_control -i on "$pid" >/dev/null 2>&1
  callgrind_control -z "$pid" >/dev/null 2>&1
  local result
  result=$(taskset -c "$WRK_CPUS" wrk -t1 -c32 -d"$DURATION" -s "$LUA" "$url" | grep PEERS_RESULT)
  callgrind_control -d "$pid" >/dev/null 2>&1
  # The dump is written when the program next runs; a request makes it run.
  for _ in $(seq 1 100); do
    compgen -G "$OUT/$name.callgrind.*" >/dev/null && break
    curl -fsS -o /dev/null "$url?user_key=user0" 2>/dev/null || true
    sleep 0.2
  done
  exposures_after=$(metric "$port" variantd_exposures_total)
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local requests non2xx dump total
  requests=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$result")
  non2xx=$(sed -n 's/.* non2xx3xx=\([0-9]*\).*/\1/p' <<<"$result")
  dump=$(ls "$OUT/$name.callgrind".* | head -1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  printf "%-12s %12d %10d %14d %9d %12d\n" "$name" "$((total / requests))" "$requests" "$total" \
    "$non2xx" "$((exposures_after - exposures_before))"
}

printf "%-12s %12s %10s %14s %9s %12s\n" server instr/req requests instructions non-2xx exposures
for s in "${servers[@]}"; do
  case $s in
    floor) ACTIX_FLOOR_ADDR=127.0.0.1:18301 count floor 18301 "$FLOOR" ;;
    plugin) count plugin 18401 "$ROOT/target/release/variantd" --config bench/plugin-mode.toml ;;
    nginx-front)
      variant_backends
      run=$(nginx_conf front "$ROOT/bench/nginx-front.conf.template" -e "s/^master_process on;/master_process off;/")
      count nginx-front 18403 nginx -p "$run" -e "$run/nginx-error.log" -c "$run/nginx.conf" ;;
    proxy)
      variant_backends
      count proxy 18402 "$ROOT/target/release/variantd" --config bench/proxy-mode.toml ;;
  esac
done
echo "(exposures: Statsig evaluations variantd made in the counted window; 0 = every decision came from its cache)"
