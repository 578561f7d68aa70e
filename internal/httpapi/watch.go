package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/peerpath/peerpath/api"
)

// Live event types the [Watch] publishes.
const (
	// EventDownloads carries every download ([]api.Download, newest
	// first) whenever one changes: a state, its progress, its sources.
	EventDownloads = "download.changed"
	// EventCompute says the jobs or the worker changed (no payload:
	// reload GET /api/v1/jobs and /api/v1/worker).
	EventCompute = "compute.changed"
)

// WatchInterval is how often a [Watch] looks for changes.
const WatchInterval = time.Second

// Watch turns the downloads queue and the compute service into live
// events, so the web app's Downloads, Search and Compute pages update from
// the event stream instead of polling: every interval, while someone
// subscribes to the bus, it compares what they report with what it last
// published and publishes what changed. Its cost is one List and one Jobs
// a second, whatever the number of open tabs. A nil Downloads or Compute
// is skipped.
type Watch struct {
	downloads Downloads
	compute   Compute
	bus       Events
	interval  time.Duration

	lastDownloads, lastCompute []byte
}

// NewWatch returns a Watch publishing to bus every interval.
func NewWatch(downloads Downloads, compute Compute, bus Events, interval time.Duration) *Watch {
	return &Watch{downloads: downloads, compute: compute, bus: bus, interval: interval}
}

// Serve looks for changes every interval until ctx ends.
func (w *Watch) Serve(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !w.listened() {
			// Nobody listens: forget what was published, so a new
			// subscriber's first change is published whatever it is.
			w.lastDownloads, w.lastCompute = nil, nil
			continue
		}
		w.check(ctx)
	}
}

// listened reports whether the bus has subscribers (a bus that cannot
// say counts as listened to).
func (w *Watch) listened() bool {
	if c, ok := w.bus.(interface{ Subscribers() int }); ok {
		return c.Subscribers() > 0
	}
	return true
}

// check publishes the downloads and the compute state if they changed
// since the last check.
func (w *Watch) check(ctx context.Context) {
	if w.downloads != nil {
		l := w.downloads.List()
		out := make([]api.Download, 0, len(l))
		for _, d := range l {
			out = append(out, toAPIDownload(d))
		}
		if b, err := json.Marshal(out); err == nil && !bytes.Equal(b, w.lastDownloads) {
			w.bus.Publish(EventDownloads, out)
			w.lastDownloads = b
		}
	}
	if w.compute != nil {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		js, err := w.compute.Jobs(cctx)
		cancel()
		if err != nil {
			return
		}
		jobs := make([]api.Job, 0, len(js))
		for _, j := range js {
			jobs = append(jobs, toAPIJob(j))
		}
		b, err := json.Marshal(struct {
			Jobs   []api.Job
			Worker api.Worker
		}{jobs, toAPIWorker(w.compute.WorkerStatus())})
		if err == nil && !bytes.Equal(b, w.lastCompute) {
			w.bus.Publish(EventCompute, nil)
			w.lastCompute = b
		}
	}
}
