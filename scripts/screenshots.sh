#!/usr/bin/env bash
# Regenerates the README's screenshots of the web app from the demo: runs
# the web app's end-to-end test (test/e2e/webapp_test.go), which starts
# `peerpath demo`, checks every point of the app at 1400 px and 390 px
# wide in headless Chromium, and with PEERPATH_SCREENSHOTS set saves every
# page of peer 1 (the ledger's voter, a buyer) as NAME.png (1400 px) and
# NAME-phone.png (390 px, dark theme).
# Needs chromium (scripts/test.sh installs it: apt-get install chromium).
# Usage: scripts/screenshots.sh [OUTDIR]   (default docs/screenshots)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-docs/screenshots}" && cd "${1:-docs/screenshots}" && pwd)"
PEERPATH_SCREENSHOTS="$out" go test -count=1 -timeout 10m -run '^TestWebAppOnDemo$' ./test/e2e/
ls -1 "$out"
