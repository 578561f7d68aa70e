package httpapi

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/events"
	"github.com/peerpath/peerpath/internal/transfer"
)

// listDownloads is a Downloads whose List answers what the test sets.
type listDownloads struct {
	fakeDownloads
	mu sync.Mutex
	l  []transfer.Download
}

func (d *listDownloads) set(l ...transfer.Download) { d.mu.Lock(); d.l = l; d.mu.Unlock() }
func (d *listDownloads) List() []transfer.Download {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.l
}

// jobsCompute is a Compute whose Jobs and WorkerStatus answer what the
// test sets.
type jobsCompute struct {
	Compute
	mu     sync.Mutex
	jobs   []compute.JobStatus
	worker compute.WorkerStatus
}

func (c *jobsCompute) Jobs(ctx context.Context) ([]compute.JobStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jobs, nil
}
func (c *jobsCompute) WorkerStatus() compute.WorkerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.worker
}

// The watch publishes the downloads (with their progress) and a compute
// change when, and only when, they change, and nothing while nobody
// listens.
func TestWatchPublishesChanges(t *testing.T) {
	bus := events.New()
	dl := &listDownloads{}
	c := &jobsCompute{}
	w := NewWatch(dl, c, bus, time.Hour)
	ch, cancel, ok := bus.Subscribe()
	if !ok {
		t.Fatal("subscribe")
	}
	defer cancel()
	next := func() *events.Event {
		select {
		case ev := <-ch:
			return &ev
		default:
			return nil
		}
	}
	ctx := t.Context()

	w.check(ctx) // the first check publishes what is, once
	if ev := next(); ev == nil || ev.Type != EventDownloads || len(ev.Data.([]api.Download)) != 0 {
		t.Fatalf("first check: %+v", ev)
	}
	if ev := next(); ev == nil || ev.Type != EventCompute {
		t.Fatalf("first check: %+v", ev)
	}
	w.check(ctx)
	if ev := next(); ev != nil {
		t.Fatalf("nothing changed, yet %+v", ev)
	}

	dl.set(transfer.Download{ID: "1", State: transfer.StateRunning, Done: 10, Total: 100, Sources: 2})
	w.check(ctx)
	ev := next()
	if ev == nil || ev.Type != EventDownloads {
		t.Fatalf("download added: %+v", ev)
	}
	if got := ev.Data.([]api.Download); len(got) != 1 || got[0].Done != 10 || got[0].Sources != 2 {
		t.Fatalf("download event: %+v", got)
	}
	if ev := next(); ev != nil {
		t.Fatalf("compute unchanged, yet %+v", ev)
	}
	dl.set(transfer.Download{ID: "1", State: transfer.StateRunning, Done: 20, Total: 100, Sources: 2})
	w.check(ctx)
	if ev := next(); ev == nil || ev.Data.([]api.Download)[0].Done != 20 {
		t.Fatalf("progress: %+v", ev)
	}

	c.mu.Lock()
	c.jobs = []compute.JobStatus{{ID: "j1", State: "running", Units: 4}}
	c.mu.Unlock()
	w.check(ctx)
	if ev := next(); ev == nil || ev.Type != EventCompute {
		t.Fatalf("job added: %+v", ev)
	}
	c.mu.Lock()
	c.worker.Enabled = true
	c.mu.Unlock()
	w.check(ctx)
	if ev := next(); ev == nil || ev.Type != EventCompute {
		t.Fatalf("worker turned on: %+v", ev)
	}

	// Serve checks only while someone listens.
	if !w.listened() {
		t.Fatal("not listened with a subscriber")
	}
	cancel()
	if w.listened() {
		t.Fatal("listened with no subscriber")
	}
}
