#!/usr/bin/env bash
# bench/soak.sh — a soak test (a benchmark script, not a CI test): wrk load on
# loopback for SOAK_SECS (default 600) against a release variantd whose gate
# sends half the users to the `swapper` plugin, while
#   - the swapper plugin is swapped every SOAK_SWAP_MS (default 200) ms,
#     alternating two builds (a copy to a temporary name, then a rename), and
#   - the config is edited every SOAK_EDIT_SECS (default 2) s (the gate's
#     route flips between envelope and transparent answers).
# Prints failed requests (wrk's non-2xx answers and socket errors), the
# daemon's RSS and open file descriptors at start, peak and end, the retained
# library copies, and the swaps and edits made. Needs wrk (Debian: wrk).
# SOAK_NO_BUILD=1 uses target/release as it is. Loopback only; it stops by itself.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECS=${SOAK_SECS:-600}
SWAP_MS=${SOAK_SWAP_MS:-200}
EDIT_SECS=${SOAK_EDIT_SECS:-2}
CONNECTIONS=${SOAK_CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "soak: wrk not found (apt-get install wrk)" >&2; exit 2; }
cd "$ROOT"
if [ -z "${SOAK_NO_BUILD:-}" ]; then
  echo "soak: cargo build --release --workspace"
  cargo build --release --workspace --locked --quiet
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/variantd-soak.XXXXXX")
chmod 755 "$work"
mkdir -m 755 "$work/plugins"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for lib in libapp_a.so libfixture_swap_one.so libfixture_swap_two.so; do
  cp "target/release/$lib" "$work/$lib"
done
cp "$work/libapp_a.so" "$work/plugins/libapp_a.so"
cp "$work/libfixture_swap_one.so" "$work/plugins/libswapper.so"
cp config/statsig_specs.json "$work/statsig_specs.json"

config() { # RESPONSE_SHAPE
  cat <<EOF
[server]
listen = "127.0.0.1:0"
workers = 1
access_log = false
[plugins]
dir = "plugins"
include = ["libapp_a.so", "libswapper.so"]
debounce_ms = 20
[statsig]
specs_file = "statsig_specs.json"
exposures_file = "exposures.jsonl"
[variants.app_a]
plugin = "app_a"
[variants.app_b]
plugin = "swapper"
[[routes]]
path = "/process/{message}"
methods = ["GET"]
response = "$1"
gate = "variant_b"
pass = "app_b"
fail = "app_a"
EOF
}
config transparent >"$work/variantd.toml"

target/release/variantd --config "$work/variantd.toml" >"$work/out" 2>"$work/err" &
pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's#^variantd listening on http://##p' "$work/out" | head -n1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "soak: variantd did not start"; cat "$work/err"; exit 1; }

cat >"$work/users.lua" <<'EOF'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/process/hello?user_key=user" .. (n % 10000))
end
EOF

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
rss_start=$(rss_kib); fds_start=$(fds); rss_peak=$rss_start; fds_peak=$fds_start

wrk -t1 -c"$CONNECTIONS" -d"${SECS}s" -s "$work/users.lua" "http://$addr" >"$work/wrk" 2>&1 &
wrk_pid=$!

swaps=0; edits=0; shape=transparent
started=$(date +%s%N)
next_edit=$((started + EDIT_SECS * 1000000000))
while kill -0 "$wrk_pid" 2>/dev/null; do
  if ((swaps % 2 == 0)); then next=libfixture_swap_two.so; else next=libfixture_swap_one.so; fi
  cp "$work/$next" "$work/plugins/.libswapper.so.tmp"
  mv "$work/plugins/.libswapper.so.tmp" "$work/plugins/libswapper.so"
  swaps=$((swaps + 1))
  now=$(date +%s%N)
  if ((now >= next_edit)); then
    if [ "$shape" = transparent ]; then shape=envelope; else shape=transparent; fi
    config "$shape" >"$work/variantd.toml.tmp"
    mv "$work/variantd.toml.tmp" "$work/variantd.toml"
    edits=$((edits + 1))
    next_edit=$((now + EDIT_SECS * 1000000000))
  fi
  r=$(rss_kib); f=$(fds)
  ((r > rss_peak)) && rss_peak=$r
  ((f > fds_peak)) && fds_peak=$f
  sleep "$(awk -v ms="$SWAP_MS" 'BEGIN { printf "%.3f", ms / 1000 }')"
done
wait "$wrk_pid" || true
sleep 1
rss_end=$(rss_kib); fds_end=$(fds)
admin=$(curl -sf --max-time 5 "http://$addr/admin/plugins" || echo '{}')
retained=$(printf '%s' "$admin" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("retained",[])), d.get("libraries_open","?"), len(d.get("refused",[])))' 2>/dev/null || echo "? ? ?")

requests=$(awk '/requests in/ { print $1 }' "$work/wrk")
non2xx=$(awk '/Non-2xx or 3xx responses/ { print $NF }' "$work/wrk"); non2xx=${non2xx:-0}
socket=$(awk '/Socket errors/ { gsub(",", ""); s = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }' "$work/wrk"); socket=${socket:-0}
echo "soak: $(cat "$work/wrk" | grep -E 'Requests/sec|Latency' | tr -s ' ' | paste -sd';')"
echo "soak: ${SECS}s, requests ${requests:-?}, failed $((non2xx + socket)) (non-2xx $non2xx, socket errors $socket)"
echo "soak: swaps $swaps (every ${SWAP_MS} ms), config edits $edits (every ${EDIT_SECS} s)"
echo "soak: RSS KiB start $rss_start peak $rss_peak end $rss_end; fds start $fds_start peak $fds_peak end $fds_end"
read -r kept open refused <<<"$retained"
echo "soak: retained library copies $kept, libraries open $open, refused files $refused"
grep -c "plugin refused" "$work/err" | sed 's/^/soak: refusal log lines /' || true
grep "plugin refused" "$work/err" | head -5 | sed 's/^/soak:   /' || true
