#!/usr/bin/env bash
# Regenerates the README's screenshots of the web app from the demo: builds
# peerpath, starts `peerpath demo`, waits for its sample data (shares,
# ledger, job, market), logs a headless Chromium into peer 1 and takes every
# page at 1400 px wide (docs/screenshots/NAME.png), and Home and Wallet at
# 390 px (NAME-phone.png). Needs chromium (apt-get install chromium).
# Usage: scripts/screenshots.sh [OUTDIR]   (default docs/screenshots)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/screenshots}"
mkdir -p "$out"
chrome=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chrome" ] || { echo "chromium not found: apt-get install chromium" >&2; exit 1; }

work=$(mktemp -d)
demo_pid=""
cleanup() {
	if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building peerpath"
go build -o "$work/peerpath" ./cmd/peerpath

echo "== starting the demo"
"$work/peerpath" demo --peers 4 >"$work/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 1 240); do
	grep -q "demo ready" "$work/demo.log" && break
	kill -0 "$demo_pid" 2>/dev/null || { cat "$work/demo.log"; exit 1; }
	sleep 0.5
done
grep -q "demo ready" "$work/demo.log" || { echo "demo not ready after 2 minutes" >&2; cat "$work/demo.log"; exit 1; }
home1=$(awk '/^peer 1 /{print $NF}' "$work/demo.log")
# Let Home's history gather a few samples and the market's listings spread.
sleep "${SCREENSHOT_WAIT:-20}"

profile="$work/chrome"
shot() { # shot URL FILE WIDTH HEIGHT
	"$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
		--window-size="$3,$4" --virtual-time-budget=8000 --screenshot="$2" "$1" >/dev/null 2>&1
	echo "   $2"
}
login=$("$work/peerpath" --home "$home1" ui --print-url)
base=${login%%/ui/login*}
echo "== screenshots of $base"
shot "$login" "$work/login.png" 1400 1000 # logs the profile in (one-time link)
for p in home search shares downloads compute market wallet settings; do
	shot "$base/ui/#/$p" "$out/$p.png" 1400 1000
done
for p in home wallet market; do
	shot "$base/ui/#/$p" "$out/$p-phone.png" 390 844
done
