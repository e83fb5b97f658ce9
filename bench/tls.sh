#!/usr/bin/env bash
# bench/tls.sh — proxy mode over TLS, against nginx proxying to the same TLS
# upstreams, in one run. Not a test: nothing fails on a timing.
#
#   bench/tls.sh            build release; make a CA and certificates with
#                           openssl (in var/bench-tls/); start two TLS
#                           upstreams (one nginx process answering what App A
#                           and App B answer, on :18231/:18232, h2 and
#                           http/1.1 by ALPN); then measure, with keep-alive
#                           on every hop:
#     nginx-tls          nginx front (:18433) → TLS upstreams (verified, keepalive, http/1.1)
#     variantd-tls-h1    variantd proxy mode (:18432) → the same, http2 = false
#     variantd-tls-h2    variantd proxy mode (:18434) → the same, HTTP/2 by ALPN
#   first with plain HTTP from wrk to the front, then with HTTPS from wrk to
#   the front as well (the front's [server.tls] / nginx `ssl`).
#
# Pinning as bench/run.sh: every server on CPU 1 (PEERS_SERVER_CPUS), wrk on
# CPU 0 (PEERS_WRK_CPUS), `-t1 -c32`, each request a different user_key
# (../shared/peers/wrk/user_keys.lua). PEERS_DURATION (10s), PEERS_CONNECTIONS
# (32). Loopback only. Needs openssl, nginx and wrk (Debian: apt-get install
# -y openssl nginx wrk).
set -euo pipefail
# shellcheck source=bench/peers-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/peers-env.sh"
cd "$ROOT"
for tool in openssl nginx wrk; do
  command -v "$tool" >/dev/null || { echo "bench/tls.sh needs $tool (apt-get install -y $tool)" >&2; exit 2; }
done
[ -f "$LUA" ] || { echo "wrk script $LUA not found (set PEERS_DIR)" >&2; exit 2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "bench: cargo build --release -p variantd"
  cargo build --release -p variantd --locked --quiet
fi

run=$ROOT/var/bench-tls
rm -rf "$run"; mkdir -p "$run/up/tmp" "$run/front/tmp"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# A CA, and one certificate for the upstreams and the fronts (127.0.0.1).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=variantd bench CA" -keyout "$run/ca.key" -out "$run/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=127.0.0.1" -keyout "$run/server.key" -out "$run/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$run/ext.cnf"
openssl x509 -req -in "$run/server.csr" -CA "$run/ca.pem" -CAkey "$run/ca.key" -CAcreateserial \
  -days 2 -extfile "$run/ext.cnf" -out "$run/server.pem" 2>/dev/null

common_nginx() { # RUN
  cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/nginx-error.log warn;
events { worker_connections 4096; }
EOF
}
temp_paths() { # RUN
  cat <<EOF
    client_body_temp_path $1/tmp/client_body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
EOF
}

# The TLS upstreams: what App A and App B answer, as the peers' variant backends.
{
  common_nginx "$run/up"
  cat <<EOF
http {
    access_log off; server_tokens off; default_type application/json;
    keepalive_requests 10000000; keepalive_timeout 75s;
    ssl_certificate $run/server.pem; ssl_certificate_key $run/server.key;
    ssl_session_cache shared:up:1m;
$(temp_paths "$run/up")
    server {
        listen 127.0.0.1:18231 ssl http2 backlog=4096;
        location ~ ^/process/(?<msg>[^/]+)\$ {
            return 200 '{"variant":"A","message":"App A processed: \$msg","algorithm":"fast-processing"}';
        }
    }
    server {
        listen 127.0.0.1:18232 ssl http2 backlog=4096;
        location ~ ^/process/(?<msg>[^/]+)\$ {
            return 200 '{"variant":"B","message":"App B processed: \$msg","algorithm":"enhanced-processing"}';
        }
    }
}
EOF
} >"$run/up/nginx.conf"

# nginx as the front: split by user_key, verified TLS to the upstreams,
# pooled keep-alive connections and session reuse.
{
  common_nginx "$run/front"
  cat <<EOF
http {
    access_log off; server_tokens off;
    keepalive_requests 10000000; keepalive_timeout 75s;
$(temp_paths "$run/front")
    split_clients "\${arg_user_key}" \$variant_upstream {
        50%     variant_a;
        *       variant_b;
    }
    upstream variant_a { server 127.0.0.1:18231; keepalive 64; keepalive_requests 10000000; }
    upstream variant_b { server 127.0.0.1:18232; keepalive 64; keepalive_requests 10000000; }
    server {
        listen 127.0.0.1:18433 backlog=4096;
        listen 127.0.0.1:18443 ssl backlog=4096;
        ssl_certificate $run/server.pem; ssl_certificate_key $run/server.key;
        location /process/ {
            proxy_pass https://\$variant_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $run/ca.pem;
            proxy_ssl_name 127.0.0.1;
            proxy_ssl_session_reuse on;
        }
    }
}
EOF
} >"$run/front/nginx.conf"

# variantd in proxy mode, as bench/proxy-mode.toml but to the TLS upstreams.
variantd_config() { # LISTEN HTTP2 TLS_SECTION
  cat <<EOF
[server]
listen = "$1"
workers = 1
access_log = false
$3
[plugins]
dir = "$run"
include = []
watch = false
[statsig]
specs_file = "$ROOT/config/statsig_specs.json"
exposures_file = "$run/exposures.jsonl"
[variants.app_a]
label = "A"
url = "https://127.0.0.1:18231"
tls_ca_file = "$run/ca.pem"
$2
[variants.app_b]
label = "B"
url = "https://127.0.0.1:18232"
tls_ca_file = "$run/ca.pem"
$2
[[routes]]
path = "/process/{message}"
methods = ["GET"]
response = "envelope"
gate = "variant_b"
pass = "app_b"
fail = "app_a"
EOF
}
tls_section="[server.tls]
cert_file = \"$run/server.pem\"
key_file = \"$run/server.key\""
variantd_config 127.0.0.1:18432 "http2 = false" "" >"$run/h1.toml"
variantd_config 127.0.0.1:18434 "" "" >"$run/h2.toml"
variantd_config 127.0.0.1:18442 "http2 = false" "$tls_section" >"$run/h1-tls.toml"
variantd_config 127.0.0.1:18444 "" "$tls_section" >"$run/h2-tls.toml"

for d in up front; do
  taskset -c "$SERVER_CPUS" nginx -p "$run/$d" -e "$run/$d/nginx-error.log" -c "$run/$d/nginx.conf" >"$run/$d/out.log" 2>&1 &
  pids+=($!)
done
for cfg in h1 h2 h1-tls h2-tls; do
  taskset -c "$SERVER_CPUS" "$ROOT/target/release/variantd" --config "$run/$cfg.toml" >"$run/$cfg.log" 2>&1 &
  pids+=($!)
done
for cfg in h1 h2 h1-tls h2-tls; do
  for _ in $(seq 1 100); do grep -q "variantd listening" "$run/$cfg.log" && break; sleep 0.1; done
  grep -q "variantd listening" "$run/$cfg.log" || { echo "variantd ($cfg) did not start; see $run/$cfg.log" >&2; exit 1; }
done
sleep 0.5

# Every answer must be the upstream's: a proxy that fails fast would win.
for url in http://127.0.0.1:18433 http://127.0.0.1:18432 http://127.0.0.1:18434 \
  https://127.0.0.1:18443 https://127.0.0.1:18442 https://127.0.0.1:18444; do
  body=$(curl -sS --cacert "$run/ca.pem" "$url/process/hello?user_key=user1")
  case $body in
    *"processed: hello"*) ;;
    *) echo "$url answered: $body" >&2; exit 1 ;;
  esac
done

conns=${PEERS_CONNECTIONS:-32} dur=${PEERS_DURATION:-10s}
measure() { # NAME URL
  taskset -c "$WRK_CPUS" wrk -t1 -c"$conns" -d2s -s "$LUA" "$2" >/dev/null
  taskset -c "$WRK_CPUS" wrk -t1 -c"$conns" -d"$dur" -s "$LUA" "$2" | awk -v n="$1" '/^PEERS_RESULT/ {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      errs = v["non2xx3xx"] + v["connect_err"] + v["read_err"] + v["write_err"] + v["timeouts"]
      printf "%-22s %10.1f req/s   p50 %7.2fms   p99 %7.2fms   errors %d\n", n, v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000, errs
    }'
}
out=$run/results.txt
{
  echo "== plain HTTP to the front, TLS from the front to the upstreams"
  measure nginx-tls "http://127.0.0.1:18433/process/hello"
  measure variantd-tls-h1 "http://127.0.0.1:18432/process/hello"
  measure variantd-tls-h2 "http://127.0.0.1:18434/process/hello"
  echo "== HTTPS to the front as well"
  measure nginx-tls "https://127.0.0.1:18443/process/hello"
  measure variantd-tls-h1 "https://127.0.0.1:18442/process/hello"
  measure variantd-tls-h2 "https://127.0.0.1:18444/process/hello"
} | tee "$out"
awk '/^==/ { section++ } / req\/s/ { rps[section, $1] = $2 }
  END { for (s = 1; s <= section; s++) {
    printf "section %d: variantd-tls-h1 %.2fx nginx-tls, variantd-tls-h2 %.2fx nginx-tls\n", s,
      rps[s, "variantd-tls-h1"] / rps[s, "nginx-tls"], rps[s, "variantd-tls-h2"] / rps[s, "nginx-tls"] } }' "$out"
