#!/usr/bin/env bash
# The one test command of Weir:
#   1. scripts/install-test-deps.sh   (Chromium, ffmpeg, playwright-core, aiortc venv; idempotent)
#   2. cargo build --release -j2 --workspace
#   3. cargo test  --release -j2 --workspace   (release: shares the build of step 2)
#   4. the end-to-end suite: node --test tests/e2e/ (real Chromium and aiortc peers against
#      target/release/weir, or $WEIR_BIN)
# Exits non-zero if anything fails. The last line is "tests: N passed, N failed" (cargo + e2e).
#
# Environment:
#   WEIR_BIN=path          server binary for the e2e suite (default target/release/weir, or
#                          $CARGO_TARGET_DIR/release/weir)
#   WEIR_E2E_NETNS=auto|0|1  run the e2e suite in a private network namespace with only a
#                          loopback interface (auto: when root and `ip netns` works). This keeps
#                          every packet of the browsers and the server on 127.0.0.1.
#   WEIR_E2E_ONLY=1        skip cargo (steps 2-3); e.g. WEIR_E2E_ONLY=1 WEIR_BIN=... scripts/test.sh
#   WEIR_E2E_FILES="a b"   run only these e2e files (paths), default: the whole tests/e2e/
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
ART="$ROOT/tests/e2e/artifacts"
mkdir -p "$ART"
T0=$(date +%s)

step() { printf '\n==> %s  (+%ss)\n' "$*" "$(( $(date +%s) - T0 ))"; }

passed=0
failed=0
rust_rc=0
e2e_rc=0

finish() {
  local rc=$1
  printf '\n==> done in %ss: cargo test rc=%s, e2e rc=%s\n' "$(( $(date +%s) - T0 ))" "$rust_rc" "$e2e_rc"
  if grep -qE 'weir (server|binary) .*(before answering|not found)|weir server did not answer' "$ART/e2e.tap" 2>/dev/null; then
    echo "NOTE: the weir server under test did not start (see the e2e output above)."
    echo "      Until the server binary serves HTTP, every e2e scenario fails at setup; only"
    echo "      no scenario can pass."
  fi
  echo "tests: ${passed} passed, ${failed} failed"
  exit "$rc"
}

step "install test dependencies"
if ! bash scripts/install-test-deps.sh; then
  echo "test.sh: installing test dependencies failed" >&2
  failed=$((failed + 1)); finish 1
fi

if [ "${WEIR_E2E_ONLY:-0}" != 1 ]; then
  step "cargo build --release -j2 --workspace"
  if ! cargo build --release -j2 --workspace; then
    echo "test.sh: cargo build failed" >&2
    failed=$((failed + 1)); finish 1
  fi

  step "cargo test --release -j2 --workspace"
  cargo test --release -j2 --workspace 2>&1 | tee "$ART/cargo-test.log"
  rust_rc=${PIPESTATUS[0]}
  # Sum "test result: ok. N passed; M failed; ..." lines.
  read -r p f < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } } END { print p+0, f+0 }' "$ART/cargo-test.log")
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rust_rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
fi

# A fresh network namespace that has only `lo`, when possible: every packet of the browsers,
# the aiortc peers and the server then stays on 127.0.0.1.
NS=""
cleanup_ns() { if [ -n "$NS" ]; then ip netns del "$NS" 2>/dev/null || true; fi; }
trap cleanup_ns EXIT
RUN=()
mode="${WEIR_E2E_NETNS:-auto}"
if [ "$mode" != 0 ] && [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
  NS="weir-e2e-$$"
  if ip netns add "$NS" 2>/dev/null && ip -n "$NS" link set lo up 2>/dev/null; then
    RUN=(ip netns exec "$NS")
    # Tests may add interfaces here (net.test.mjs: an IPv6 address Chromium can gather).
    export WEIR_E2E_PRIVATE_NETNS=1
  else
    cleanup_ns; NS=""
  fi
fi
if [ "$mode" = 1 ] && [ -z "$NS" ]; then
  echo "test.sh: WEIR_E2E_NETNS=1 but a network namespace could not be created" >&2
  failed=$((failed + 1)); finish 1
fi

step "e2e suite (node --test, one file at a time)"
export WEIR_BIN="${WEIR_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/weir}"
echo "server under test: $WEIR_BIN"
# shellcheck disable=SC2086
files=${WEIR_E2E_FILES:-tests/e2e/}
if [ -n "$NS" ]; then echo "(e2e runs in network namespace $NS: loopback only)"
else echo "(e2e runs in the host network namespace: browsers may also use non-loopback local addresses)"; fi
"${RUN[@]}" timeout --signal=TERM --kill-after=30 1500 \
  node --test --test-concurrency=1 --test-reporter=tap $files 2>&1 | tee "$ART/e2e.tap"
e2e_rc=${PIPESTATUS[0]}
p=$(awk '/^# pass [0-9]+$/ { n = $3 } END { print n+0 }' "$ART/e2e.tap")
f=$(awk '/^# fail [0-9]+$/ { n = $3 } END { print n+0 }' "$ART/e2e.tap")
passed=$((passed + p)); failed=$((failed + f))
if [ "$e2e_rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi

if [ "$rust_rc" -ne 0 ] || [ "$e2e_rc" -ne 0 ]; then finish 1; fi
finish 0
