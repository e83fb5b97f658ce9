#!/usr/bin/env bash
# bench/run.sh — variantd against its peers, in one run, one table.
#
#   bench/run.sh            build release, start variantd in plugin mode
#                           (bench/plugin-mode.toml) and proxy mode
#                           (bench/proxy-mode.toml), and measure both with
#                           ../shared/peers/run-peers.sh in the same run as
#                           the actix floor, nginx split_clients and the
#                           Python replica; then nginx as a separate front
#                           process and proxy mode again, back to back, in
#                           front of one separate backend process (the same
#                           topology). Prints req/s, p50, p99 and ratios.
#
# Environment: PEERS_DIR (default ../shared/peers beside the project), and
# everything run-peers.sh reads (PEERS_DURATION, PEERS_CONNECTIONS, ...).
# Pinning as the peers do it: every server on CPU 1 (PEERS_SERVER_CPUS),
# wrk on CPU 0 (PEERS_WRK_CPUS). Loopback only. Not a test: nothing fails on
# a timing. The last line says how much CPU time the host took from the VM.
set -euo pipefail
# shellcheck source=bench/peers-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/peers-env.sh"
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

# "steal total" in ticks since boot, over all CPUs (/proc/stat's first line).
# Fields 2-9: user nice system idle iowait irq softirq steal (guest time is
# already inside user).
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t; exit }' /proc/stat; }
ticks_before=$(cpu_ticks)

out=$ROOT/var/bench-peers.out
"$PEERS/run-peers.sh" all \
  --target "variantd-plugin=http://127.0.0.1:18401/process/hello" \
  --target "variantd-proxy=http://127.0.0.1:18402/process/hello" \
  --variant-backends nginx | tee "$out"

# Same topology, back to back: nginx as a separate front process and
# variantd's proxy mode, each in front of the same separate variant-backend
# process, all on CPU 1 (see bench/nginx-front.conf.template). nginx-split
# above serves its backends from its own process, so it pays no context
# switch per hop; this pair shows what the hop itself costs each proxy.
same_topology() {
  local run=$ROOT/var/bench-front
  rm -rf "$run"; mkdir -p "$run/vb/tmp" "$run/front/tmp"
  sed -e "s#@RUN@#$run/vb#g" -e "s#@PORT_A@#18211#g" -e "s#@PORT_B@#18212#g" \
    "$PEERS/nginx-split/variant-backends.conf.template" >"$run/vb/nginx.conf"
  sed -e "s#@RUN@#$run/front#g" "$ROOT/bench/nginx-front.conf.template" >"$run/front/nginx.conf"
  for d in vb front; do
    taskset -c "$SERVER_CPUS" nginx -p "$run/$d" -e "$run/$d/nginx-error.log" -c "$run/$d/nginx.conf" >"$run/$d/out.log" 2>&1 &
    pids+=($!)
  done
  sleep 1
  local conns=${PEERS_CONNECTIONS:-32} dur=${PEERS_DURATION:-10s}
  # Where CPU 1's time goes per request: the front's and the backend's CPU
  # time, and how often the backend went to sleep (and so had to be woken:
  # each is a context switch away from the front and back).
  local backend
  backend=$(nginx_worker "$run/vb")
  for t in "nginx-front=18403=$(nginx_worker "$run/front")" "variantd-proxy*=18402=${pids[1]}"; do
    local name=${t%%=*} rest=${t#*=}
    local url="http://127.0.0.1:${rest%%=*}/process/hello" front_pid=${rest#*=}
    taskset -c "$WRK_CPUS" wrk -t1 -c"$conns" -d2s -s "$LUA" "$url" >/dev/null
    local before; before=$(snapshot "$front_pid" "$backend")
    local result
    result=$(taskset -c "$WRK_CPUS" wrk -t1 -c"$conns" -d"$dur" -s "$LUA" "$url")
    local after; after=$(snapshot "$front_pid" "$backend")
    echo "$result" | awk -v n="$name" -v before="$before" -v after="$after" '/^PEERS_RESULT/ {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        split(before, b, " "); split(after, a, " "); r = v["requests"]
        printf "%-16s %10.1f req/s   p50 %7.2fms   p99 %7.2fms   cpu/req front %5.1fus backend %5.1fus   backend wake-ups/req %.2f\n",
          n, v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000, (a[1] - b[1]) / r, (a[2] - b[2]) / r, (a[3] - b[3]) / r
      }'
  done
}
# The worker process of the nginx whose prefix is $1 (one worker each).
nginx_worker() { pgrep -P "$(cat "$1/nginx.pid")" | head -1; }
# CPU time (user + system, all threads) process $1 has used, in microseconds.
# Fields counted after the ") " that ends the command name, which may hold spaces.
cpu_us() { sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($12 + $13) * 1000000 / hz }'; }
# How many times process $1 has gone to sleep (voluntary context switches).
sleeps() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n }'; }
# "front-cpu backend-cpu backend-sleeps" for front $1 and backend $2.
snapshot() { echo "$(cpu_us "$1") $(cpu_us "$2") $(sleeps "$2")"; }
echo
echo "== same topology (separate backend process on CPU ${SERVER_CPUS}; * = measured again here)"
# Not in a pipeline: a pipeline's subshell would keep its nginx pids from cleanup.
same_topology >"$ROOT/var/bench-front.out"
tee -a "$out" <"$ROOT/var/bench-front.out"

# The results sections: "NAME  N req/s   p50 Xms   p99 Yms ..."
awk '
  /^== (results|same topology)/ { on = 1; next }
  on && / req\/s/ {
    name = $1; rps[name] = $2; p50[name] = $5; p99[name] = $7; order[++n] = name
    busy[name] = ($0 ~ /BUSY|busy/) ? " [busy]" : ""
  }
  function ms(s) { sub(/ms$/, "", s); return s + 0 }
  function ratio(a, b) { return (b > 0) ? sprintf("%.2fx", a / b) : "-" }
  END {
    printf "\n%-16s %12s %10s %10s   %-14s %-14s %-14s %-14s\n", "server", "req/s", "p50", "p99", "vs actix-floor", "vs nginx-split", "vs seed-replica", "vs nginx-front"
    for (i = 1; i <= n; i++) {
      s = order[i]
      printf "%-16s %12s %10s %10s   %-14s %-14s %-14s %-14s%s\n", s, rps[s], p50[s], p99[s],
        ratio(rps[s], rps["actix-floor"]) " p99 " ratio(ms(p99[s]), ms(p99["actix-floor"])),
        ratio(rps[s], rps["nginx-split"]), ratio(rps[s], rps["seed-replica"]), ratio(rps[s], rps["nginx-front"]), busy[s]
    }
  }' "$out"

# Time the hypervisor gave this VM's vCPUs to someone else. "others" above
# sees only this VM's processes; steal is the host's share, and it moves
# every server's numbers at once, by more than any change to variantd.
read -r steal_before total_before <<<"$ticks_before"
read -r steal_after total_after <<<"$(cpu_ticks)"
awk -v s=$((steal_after - steal_before)) -v t=$((total_after - total_before)) 'BEGIN {
  printf "\nhost steal during the run: %.1f%% of CPU time%s\n", (t > 0) ? 100 * s / t : 0,
    (t > 0 && s / t > 0.02) ? " (over 2%: the host was busy; compare ratios within this run only)" : "" }'
