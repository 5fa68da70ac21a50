#!/usr/bin/env bash
# TURN relay benchmark (not a test): Weir's embedded TURN server and coturn side by side, each
# loaded by coturn's turnutils_uclient through channels to one turnutils_peer echo peer, all on
# 127.0.0.1. Prints, per server and transport: messages sent/received/lost, wall time, the
# server's CPU seconds (utime+stime from /proc), relayed packets per second and per CPU-second.
#
# "Relayed packets" = 2 x messages that came back (each crossed the server twice:
# client -> relay -> peer, then peer -> relay -> client).
#
#   scripts/bench-turn.sh                     # defaults below
#   CLIENTS=50 MESSAGES=4000 INTERVAL_MS=2 scripts/bench-turn.sh
#
# Needs target/release/weir (or $WEIR_BIN) and Debian's coturn (scripts/install-test-deps.sh).
# Bounded: every uclient run is killed after $RUN_TIMEOUT seconds; servers are stopped at exit.
set -uo pipefail
cd "$(dirname "$0")/.."
WEIR_BIN="${WEIR_BIN:-${CARGO_TARGET_DIR:-target}/release/weir}"
CLIENTS="${CLIENTS:-40}"          # uclient -m: concurrent allocations
MESSAGES="${MESSAGES:-2500}"      # uclient -n: messages per client
LENGTH="${LENGTH:-160}"           # uclient -l: payload bytes
INTERVAL_MS="${INTERVAL_MS:-2}"   # uclient -z: per-client send interval
RUN_TIMEOUT="${RUN_TIMEOUT:-120}"
TRANSPORTS="${TRANSPORTS:-udp tcp}"

for b in turnserver turnutils_uclient turnutils_peer; do
  command -v "$b" >/dev/null || { echo "bench-turn: $b missing (apt-get install coturn)" >&2; exit 1; }
done
[ -x "$WEIR_BIN" ] || { echo "bench-turn: $WEIR_BIN missing (cargo build --release -j2)" >&2; exit 1; }

TMP="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

PEER_PORT=$(free_port)
WEIR_PORT=$(free_port)
COTURN_PORT=$(free_port)

turnutils_peer -L 127.0.0.1 -p "$PEER_PORT" >/dev/null 2>&1 &
PIDS+=($!)

# Weir: only the TURN server matters; HTTP/media/signaling on free or disabled ports.
env WEIR_HTTP_IP=127.0.0.1 WEIR_HTTP_PORT="$(free_port)" WEIR_RTC_IP=127.0.0.1 WEIR_RTC_PORT=0 WEIR_RTC_TCPPORT=0 \
  WEIR_RTC_SIGNALINGPORT=0 WEIR_RTC_SIGNALINGSSLPORT=0 WEIR_HTTP_SSLPORT=0 \
  WEIR_RTC_ICEPORT="$WEIR_PORT" WEIR_RTC_ICETCPPORT="$WEIR_PORT" WEIR_RTC_EXTERNIP=127.0.0.1 \
  WEIR_RTC_TURNALLOWPEERS=127.0.0.1 WEIR_RTC_TURNMAXALLOCATIONSPERUSER=0 WEIR_RTC_TURNMAXALLOCATIONSPERIP=0 \
  WEIR_RTC_TURNMAXBITRATE=0 WEIR_RTC_PORT_RANGE=41000-41999 WEIR_LOG=warn \
  "$WEIR_BIN" >"$TMP/weir.log" 2>&1 &
WEIR_PID=$!
PIDS+=("$WEIR_PID")

# coturn: loopback only, long-term credentials, no TLS/DTLS/CLI/RFC 5780, default threads.
cat >"$TMP/coturn.conf" <<EOF
listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=$COTURN_PORT
min-port=42000
max-port=42999
lt-cred-mech
user=ZLMediaKit:ZLMediaKit
realm=weir
fingerprint
allow-loopback-peers
no-multicast-peers
no-tls
no-dtls
no-cli
no-rfc5780
no-stun-backward-compatibility
userdb=$TMP/turndb
pidfile=$TMP/turnserver.pid
log-file=$TMP/coturn.log
simple-log
EOF
turnserver -c "$TMP/coturn.conf" >/dev/null 2>&1 &
COTURN_PID=$!
PIDS+=("$COTURN_PID")
sleep 1.5
for p in "$WEIR_PID" "$COTURN_PID"; do
  kill -0 "$p" 2>/dev/null || { echo "bench-turn: a server did not start"; cat "$TMP"/*.log; exit 1; }
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "coturn: $(turnserver --version 2>/dev/null | head -1)"
echo "load: turnutils_uclient -c -m $CLIENTS -n $MESSAGES -l $LENGTH -z $INTERVAL_MS (channels), peer turnutils_peer"
printf '%-8s %-4s %9s %9s %6s %7s %8s %12s %14s\n' server tr sent recv lost wall_s cpu_s relayed_pps relayed_per_cpu_s
for tr in $TRANSPORTS; do
  for name in weir coturn; do
    if [ "$name" = weir ]; then port=$WEIR_PORT; pid=$WEIR_PID; else port=$COTURN_PORT; pid=$COTURN_PID; fi
    flags=(-c); [ "$tr" = tcp ] && flags+=(-t)
    c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
    timeout "$RUN_TIMEOUT" turnutils_uclient "${flags[@]}" -u ZLMediaKit -w ZLMediaKit -p "$port" \
      -e 127.0.0.1 -r "$PEER_PORT" -m "$CLIENTS" -n "$MESSAGES" -l "$LENGTH" -z "$INTERVAL_MS" 127.0.0.1 \
      >"$TMP/uclient-$name-$tr.log" 2>&1
    rc=$?
    t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
    sent=$(grep -oE 'start_mclient: tot_send_msgs=[0-9]+, tot_recv_msgs=[0-9]+' "$TMP/uclient-$name-$tr.log" | tail -1 | grep -oE '[0-9]+' | head -1)
    recv=$(grep -oE 'start_mclient: tot_send_msgs=[0-9]+, tot_recv_msgs=[0-9]+' "$TMP/uclient-$name-$tr.log" | tail -1 | grep -oE '[0-9]+' | tail -1)
    lost=$(grep -oE 'Total lost packets [0-9]+' "$TMP/uclient-$name-$tr.log" | grep -oE '[0-9]+' | tail -1)
    awk -v n="$name" -v tr="$tr" -v s="${sent:-0}" -v r="${recv:-0}" -v l="${lost:-?}" -v t0="$t0" -v t1="$t1" \
        -v c0="$c0" -v c1="$c1" -v tick="$TICK" -v rc="$rc" 'BEGIN {
      wall = t1 - t0; cpu = (c1 - c0) / tick; relayed = 2 * r;
      printf "%-8s %-4s %9d %9d %6s %7.2f %8.2f %12.0f %14.0f%s\n", n, tr, s, r, l, wall, cpu,
        relayed / wall, (cpu > 0 ? relayed / cpu : 0), (rc != 0 ? "  (uclient rc=" rc ")" : "") }'
  done
done
