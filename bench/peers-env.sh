# bench/peers-env.sh — sourced by the bench scripts, not run: where the peer
# harness and what it builds live, and how servers and wrk are pinned, read
# from the same environment run-peers.sh reads.
# shellcheck shell=bash disable=SC2034 # the scripts that source this use them
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${PEERS_DIR:-$ROOT/../shared/peers}
STATE=${PEERS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/router-peers}
FLOOR=$STATE/cargo-target/release/actix-floor
LUA=$PEERS/wrk/user_keys.lua
SERVER_CPUS=${PEERS_SERVER_CPUS:-1}
WRK_CPUS=${PEERS_WRK_CPUS:-0}
