#!/usr/bin/env bash
# A/B benchmark in one sitting: the same weir-bench scenario against two server binaries (or one
# binary with and without a foreign sink on the stream), alternated, a fresh server per run.
# Prints one weir-bench JSON line per run, preceded by "=== <label>".
#
#   scripts/bench-ab.sh ROUNDS A_BIN B_BIN  scenario args...      # A/B of two builds
#   PROBE=1 scripts/bench-ab.sh ROUNDS BIN  BIN  fanout --players 1000 --duration 10 --probe 0
#                                            # B runs with /api/v1/probe attached to live/bench
#
# Server pinned to core 0 (no egress pool), the tool to core 1, ports 38080/38000 (they must be
# free). WEIR_BENCH=path overrides target/release/weir-bench.
set -u
ROUNDS=$1 A=$2 B=$3; shift 3
BENCH=${WEIR_BENCH:-$(dirname "$0")/../target/release/weir-bench}
U=(--whip 'http://127.0.0.1:38080/whip/{app}/{stream}' --whep 'http://127.0.0.1:38080/whep/{app}/{stream}')
run() { # label bin probe args...
  local label=$1 bin=$2 probe=$3; shift 3
  WEIR_HTTP_PORT=38080 WEIR_RTC_PORT=38000 WEIR_RTC_TCPPORT=38000 WEIR_RTC_EXTERNIP=127.0.0.1 \
    WEIR_RTC_SIGNALINGPORT=0 WEIR_RTC_SIGNALINGSSLPORT=0 WEIR_HTTP_SSLPORT=0 WEIR_RTC_ICEPORT=0 WEIR_RTC_ICETCPPORT=0 \
    WEIR_API_SECRET=bench WEIR_LOG=warn taskset -c 0 "$bin" > /tmp/bench-ab-server.log 2>&1 &
  local pid=$! cpid=
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:38080/ && break; sleep 0.2; done
  if [ "$probe" = 1 ]; then
    taskset -c 1 curl -s "http://127.0.0.1:38080/api/v1/probe/live/bench?secret=bench&ms=60000&wait_ms=30000" > /tmp/bench-ab-probe.json &
    cpid=$!
  fi
  echo "=== $label $*"
  "$BENCH" "$@" --core 1 --setup-timeout 180 "${U[@]}" --server-pid "$pid" 2>&1 | grep '^{'
  # The publisher left: the stream ends (after continue_push_ms) and the probe reports.
  if [ -n "$cpid" ]; then wait "$cpid"; echo "probe $(cat /tmp/bench-ab-probe.json)"; fi
  kill "$pid"; wait "$pid" 2>/dev/null
  sleep 2
}
for _ in $(seq "$ROUNDS"); do
  run A "$A" 0 "$@"
  run B "$B" "${PROBE:-0}" "$@"
done
