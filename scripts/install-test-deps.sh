#!/usr/bin/env bash
# Install what the e2e suite needs. Idempotent: every step is skipped when already done.
# Quiet on success; on failure the output of the failing command is shown.
#   - Debian: chromium chromium-driver fonts-liberation ffmpeg python3-venv (only if missing)
#             coturn (turnutils_uclient/turnutils_peer for turn.test.mjs, turnserver for the
#             benchmark; its service is never started)
#             golang-go golang-github-pion-webrtc.v3-dev (the pion client of pion.test.mjs,
#             built in GOPATH mode against /usr/share/gocode: no module download)
#             strace, systemd (systemd-analyze: packaging.test.mjs checks dist/weir.service)
#   - npm:    tests/e2e/node_modules from tests/e2e/package-lock.json (playwright-core, ws; pinned)
#   - PyPI:   tests/e2e/.venv from tests/e2e/requirements.txt (aiortc, aiohttp, pinned)
# Never downloads a browser: Playwright drives Debian's /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
E2E=tests/e2e

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
quiet() {
  local what="$1"; shift
  if ! "$@" >"$LOG" 2>&1; then
    echo "install-test-deps: $what failed (command: $*):" >&2
    tail -n 60 "$LOG" >&2
    exit 1
  fi
}

# 1. Debian packages.
pkgs=(chromium chromium-driver fonts-liberation ffmpeg python3-venv coturn golang-go golang-github-pion-webrtc.v3-dev strace systemd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
  echo "install-test-deps: apt-get install ${missing[*]}"
  quiet "apt-get update" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # Packages with a service (coturn) must not start it: deny service starts for this install
  # unless the machine already has a policy (containers usually do).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null && "${SUDO[@]}" chmod 755 "$policy"
  fi
  rc=0
  (quiet "apt-get install" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}") || rc=$?
  if [ -n "$policy" ]; then "${SUDO[@]}" rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || exit "$rc"
fi

# 2. Node packages (playwright-core, whose browser download is never used, and ws).
command -v node >/dev/null || { echo "install-test-deps: node is not installed (Node 20 expected)" >&2; exit 1; }
lock_sum="$(sha256sum "$E2E/package-lock.json" | cut -d' ' -f1)"
stamp="$E2E/node_modules/.weir-lock-sha256"
if [ ! -d "$E2E/node_modules/playwright-core" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "install-test-deps: npm ci (tests/e2e)"
  quiet "npm ci" env PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm --prefix "$E2E" ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi

# 3. Python venv with aiortc.
venv="$E2E/.venv"
req_sum="$(sha256sum "$E2E/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$venv/.weir-req-sha256" 2>/dev/null)" != "$req_sum" ] \
   || ! "$venv/bin/python" -c 'import aiortc, aiohttp' >/dev/null 2>&1; then
  echo "install-test-deps: python venv (tests/e2e/.venv)"
  if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
    # python3 on PATH (may be pyenv's); Debian's own python3 (with python3-venv) as a fallback.
    python3 -m venv "$venv" >"$LOG" 2>&1 || { rm -rf "$venv"; quiet "python venv" /usr/bin/python3 -m venv "$venv"; }
  fi
  quiet "pip install" "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$E2E/requirements.txt"
  quiet "aiortc import check" "$venv/bin/python" -c 'import aiortc, aiohttp, av'
  echo "$req_sum" > "$venv/.weir-req-sha256"
fi
