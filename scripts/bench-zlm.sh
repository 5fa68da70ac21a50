#!/usr/bin/env bash
# Weir against ZLMediaKit in one sitting: the same weir-bench scenario, alternated, a fresh server
# per run, each pinned to core 0 (ZLMediaKit with one event-poller thread, Weir without an egress
# pool), the tool on core 1. Players count and time packets by the payload stamp (`--count
# stamp`): ZLMediaKit does not forward abs-capture-time.
#
#   ZLM_BIN=.../MediaServer ZLM_CONF=config.ini ZLM_CERT=ec.pem \
#     scripts/bench-zlm.sh ROUNDS WEIR_BIN fanout --players 200 --duration 10
#
# ZLM_CONF: HTTP on 127.0.0.1:18080, [rtc] port 18000 (UDP and TCP), externIP=127.0.0.1, hooks
# off; ZLM_CERT: an EC P-256 key and certificate (ZLMediaKit's bundled RSA one fails DTLS with
# ECDSA-only clients). Weir uses ports 38080/38000.
# Building ZLMediaKit here (~17 min on 2 cores; apt: cmake g++ libssl-dev libsrtp2-dev
# libusrsctp-dev pkg-config): its source and submodules (ZLToolKit, media-server, jsoncpp), then
#   cmake .. -DENABLE_WEBRTC=ON -DENABLE_SCTP=ON -DCMAKE_BUILD_TYPE=Release -DENABLE_TESTS=OFF \
#     -DENABLE_API=OFF -DDISABLE_REPORT=ON && make -j2
# (ZLToolKit must be the commit ZLMediaKit pins, or newer ones lack `_RingReader::setReadCB2`.) Prints one weir-bench JSON line per run,
# preceded by "=== <label>".
set -u
ROUNDS=$1 WEIR=$2; shift 2
BENCH=${WEIR_BENCH:-$(dirname "$0")/../target/release/weir-bench}
: "${ZLM_BIN:?ZLM_BIN: the ZLMediaKit MediaServer binary}" "${ZLM_CONF:?ZLM_CONF: its config.ini}" "${ZLM_CERT:?ZLM_CERT: an EC certificate}"
wait_http() { for _ in $(seq 50); do curl -s -o /dev/null "$1" && return; sleep 0.2; done; }
bench() { # label pid whip whep args...
  local label=$1 pid=$2 whip=$3 whep=$4; shift 4
  echo "=== $label $*"
  "$BENCH" "$@" --count stamp --core 1 --setup-timeout 180 --whip "$whip" --whep "$whep" --server-pid "$pid" 2>&1 | grep '^{'
  kill "$pid"; wait "$pid" 2>/dev/null
  sleep 2
}
for _ in $(seq "$ROUNDS"); do
  WEIR_HTTP_PORT=38080 WEIR_RTC_PORT=38000 WEIR_RTC_TCPPORT=38000 WEIR_RTC_EXTERNIP=127.0.0.1 \
    WEIR_RTC_SIGNALINGPORT=0 WEIR_RTC_SIGNALINGSSLPORT=0 WEIR_HTTP_SSLPORT=0 WEIR_RTC_ICEPORT=0 WEIR_RTC_ICETCPPORT=0 \
    WEIR_RTC_EGRESSTHREADS=1 WEIR_API_SECRET=bench WEIR_LOG=warn taskset -c 0 "$WEIR" > /tmp/bench-zlm-weir.log 2>&1 &
  pid=$!
  wait_http http://127.0.0.1:38080/
  bench weir "$pid" 'http://127.0.0.1:38080/whip/{app}/{stream}' 'http://127.0.0.1:38080/whep/{app}/{stream}' "$@"
  d=$(mktemp -d)
  (cd "$(dirname "$ZLM_CONF")" && exec taskset -c 0 "$ZLM_BIN" -c "$ZLM_CONF" -s "$ZLM_CERT" -t 1 -l 3 --log-dir "$d/" > "$d/stdout.log" 2>&1) &
  pid=$!
  wait_http http://127.0.0.1:18080/
  bench zlmediakit "$pid" 'http://127.0.0.1:18080/index/api/whip?app={app}&stream={stream}' 'http://127.0.0.1:18080/index/api/whep?app={app}&stream={stream}' "$@"
  rm -rf "$d"
done
