package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// getBar draws a download's progress on one terminal line, in the same
// binary units (KiB, MiB) as every other line peerpath prints. Its speed is
// the daemon's rate of this run, so bytes already on disk from an earlier
// run (a resume) count toward the percentage but not the speed.
type getBar struct {
	w     io.Writer
	width int // of the whole line
	last  time.Time
	drawn bool
}

// update redraws the line, at most every 100 ms unless force.
func (b *getBar) update(done, total int64, rate float64, sources int, force bool) {
	now := time.Now()
	if !force && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	fmt.Fprint(b.w, "\r"+progressLine(done, total, rate, sources, b.width))
	b.drawn = true
}

// finish ends the line (the summary follows on its own line).
func (b *getBar) finish() {
	if b.drawn {
		fmt.Fprint(b.w, "\r"+strings.Repeat(" ", b.width)+"\r")
	}
}

// progressLine is "[#####.....]  45%  17.2 MiB / 38.1 MiB  3.2 MiB/s  2 peers  ETA 6s",
// fitted to width.
func progressLine(done, total int64, rate float64, sources int, width int) string {
	pct := 0.0
	if total > 0 {
		pct = float64(done) / float64(total)
		pct = min(max(pct, 0), 1)
	}
	tail := fmt.Sprintf(" %3.0f%%  %s / %s", pct*100, humanBytes(float64(done)), humanBytes(float64(total)))
	if rate > 0 {
		tail += "  " + humanBytes(rate) + "/s"
	}
	tail += "  " + plural(sources, "peer", "peers")
	if rate > 0 && total > done {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
		tail += "  ETA " + eta.String()
	}
	barW := min(30, width-len(tail)-2)
	if barW < 5 {
		return tail
	}
	fill := int(pct * float64(barW))
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", barW-fill) + "]" + tail
}

// plural is "1 peer", "2 peers".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// terminalWidth is stderr's width in columns, 80 when unknown.
func terminalWidth() int {
	if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil && w > 20 {
		return w - 1
	}
	return 79
}
