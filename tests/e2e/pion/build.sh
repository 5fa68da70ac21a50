#!/usr/bin/env bash
# Builds tests/e2e/pion/bin/weir-pion against Debian's pion (golang-github-pion-webrtc.v3-dev) in
# GOPATH mode: no module download, nothing from the network. Quiet on success.
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
gopath="$here/.gopath"
mkdir -p "$gopath/src" bin
ln -sfn "$here/weir-pion" "$gopath/src/weir-pion"
command -v go >/dev/null || { echo "pion/build.sh: go is not installed (scripts/install-test-deps.sh)" >&2; exit 1; }
[ -d /usr/share/gocode/src/github.com/pion/webrtc ] || { echo "pion/build.sh: /usr/share/gocode has no pion/webrtc (golang-github-pion-webrtc.v3-dev)" >&2; exit 1; }
# Debian ships pion/webrtc v3 at .../pion/webrtc (its go.mod says .../webrtc/v3): a link gives
# the /v3 import path one directory, for our imports and pion's own.
mkdir -p "$gopath/src/github.com/pion/webrtc"
ln -sfn /usr/share/gocode/src/github.com/pion/webrtc "$gopath/src/github.com/pion/webrtc/v3"
out="$(cd "$gopath/src/weir-pion" && GO111MODULE=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode" GOCACHE="$gopath/cache" \
  go build -o "$here/bin/weir-pion" . 2>&1)" || { echo "$out" >&2; exit 1; }
