package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// DownloadState is the state of a download in a [Queue].
type DownloadState string

// The states of a queued download. A download starts running; a running
// one can be paused, and a paused or failed one resumed (running again); a
// run ends done or failed; cancelling drops it from the queue in any state.
const (
	StateRunning   DownloadState = "running"
	StatePaused    DownloadState = "paused"
	StateDone      DownloadState = "done"
	StateFailed    DownloadState = "failed"
	StateCancelled DownloadState = "cancelled"
)

// Errors of the [Queue].
var (
	// ErrNoDownload is returned for a download ID the queue does not hold.
	ErrNoDownload = errors.New("no such download")
	// ErrDownloadState is returned (wrapped, naming the state) for an
	// action the download's state does not allow: pausing one that is not
	// running, resuming one that is neither paused nor failed, the file of
	// one that is not done.
	ErrDownloadState = errors.New("not allowed in this state")
)

// Download is one download of a [Queue], as [Queue.List] reports it.
type Download struct {
	ID      string
	CID     string
	Output  string
	State   DownloadState
	Done    int64
	Total   int64
	Sources int
	Rate    float64
	// Error says why a failed download failed.
	Error   string
	Started time.Time
	// Dir reports a folder download (known once done).
	Dir bool
}

// Queue runs background downloads that can be paused, resumed and
// cancelled (the web app's Downloads page). A paused download keeps its
// verified chunks (the durable record of [Service.Get]), so resuming
// fetches only what is missing. Downloads outlive the request that started
// them; they end with [Queue.Serve]'s context. Create it with [NewQueue].
type Queue struct {
	s    *Service
	dir  string
	ctx  context.Context // the queue's life: cancelled when Serve ends
	stop context.CancelFunc

	mu   sync.Mutex
	next int
	all  map[string]*queued
	// runs holds the latest run writing to each output, until it ends: a
	// new run to the same output (a resume, or a new download after a
	// cancel) starts only after it.
	runs map[string]*queueRun
	wg   sync.WaitGroup
}

type queued struct {
	Download
	// run is the latest run of the download; a run's outcome is applied
	// only while it is still the latest, so a paused run that ends late
	// never overwrites the state of the run that resumed it.
	run *queueRun
}

// queueRun is one run of a download, from start (or resume) until its Get
// returns.
type queueRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the run's Get has returned
}

// NewQueue returns a queue that downloads with s, by default into dir
// (created if missing).
func NewQueue(s *Service, dir string) (*Queue, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("transfer: downloads folder: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("transfer: downloads folder: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Queue{s: s, dir: dir, ctx: ctx, stop: stop, all: map[string]*queued{}, runs: map[string]*queueRun{}}, nil
}

// Dir returns the folder downloads go to by default.
func (q *Queue) Dir() string { return q.dir }

// Serve keeps the queue until ctx ends, then stops its downloads and waits
// for them.
func (q *Queue) Serve(ctx context.Context) error {
	<-ctx.Done()
	q.stop()
	q.wg.Wait()
	return nil
}

// start runs (or resumes) d in the background. Called with mu held. The
// new run first waits for the previous run to the same output to end: Get
// allows one download per output at a time, and a paused or cancelled run
// may still be unwinding (closing streams, recording chunks) when the
// resume, or a new download to that output, comes.
func (q *Queue) start(d *queued) {
	ctx, cancel := context.WithCancel(q.ctx)
	prev := q.runs[d.Output]
	r := &queueRun{cancel: cancel, done: make(chan struct{})}
	d.run = r
	q.runs[d.Output] = r
	d.State = StateRunning
	d.Error = ""
	// A resumed run starts from the verified chunks the earlier runs left:
	// Done and Total carry over (the new run's first reports count only
	// what it has looked at so far), while Sources and Rate are this run's.
	d.Sources, d.Rate = 0, 0
	id, _ := cid.Decode(d.CID)
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		defer func() {
			q.mu.Lock()
			if d.run == r && d.State == StateCancelled {
				// Cancelled while this run wrote: drop its partial data
				// before the next run to this output may start.
				removePartial(d.Output)
			}
			if q.runs[d.Output] == r {
				delete(q.runs, d.Output)
			}
			q.mu.Unlock()
			close(r.done)
		}()
		defer cancel()
		// Wait for the previous run even when this one is paused at once:
		// a run's done must mean no run before it is still writing.
		if prev != nil {
			<-prev.done
		}
		if ctx.Err() != nil {
			return
		}
		res, err := q.s.Get(ctx, id, GetOptions{
			Output: d.Output,
			Progress: func(p Progress) {
				q.mu.Lock()
				if d.run == r {
					// Verified bytes never go back: a resumed run reports
					// the chunks on disk as it meets them, so until it
					// has seen them all it shows the earlier run's figure.
					d.Done, d.Total = max(d.Done, p.Done), max(d.Total, p.Total)
					d.Sources, d.Rate = p.Sources, p.Rate
				}
				q.mu.Unlock()
			},
		})
		q.mu.Lock()
		defer q.mu.Unlock()
		switch {
		case d.run != r:
			// Paused and resumed since: the newer run owns the state.
		case err == nil:
			d.State, d.Done, d.Total, d.Sources, d.Rate = StateDone, res.Size, res.Size, 0, 0
			d.Dir = res.Dir
			d.Error = ""
		case d.State == StatePaused || d.State == StateCancelled:
			// Stopped on purpose.
			d.Sources, d.Rate = 0, 0
		default:
			d.State, d.Error, d.Sources, d.Rate = StateFailed, err.Error(), 0, 0
		}
	}()
}

// Add starts downloading id to output, an absolute path; an empty output
// means the queue's folder, under name if it is a plain file name, else
// under the id. A download already running or paused to the same output is
// refused with an error wrapping [ErrInProgress].
func (q *Queue) Add(id cid.Cid, output, name string) (Download, error) {
	out := output
	if out == "" {
		if name == "" || filepath.Base(name) != name || name == "." || name == ".." {
			name = id.String()
		}
		if err := os.MkdirAll(q.dir, 0o755); err != nil {
			return Download{}, fmt.Errorf("transfer: downloads folder: %w", err)
		}
		out = filepath.Join(q.dir, name)
	}
	out = filepath.Clean(out)
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, d := range q.all {
		if d.Output == out && (d.State == StateRunning || d.State == StatePaused) {
			return d.Download, fmt.Errorf("%s is already being downloaded (%w)", out, ErrInProgress)
		}
	}
	q.next++
	d := &queued{Download: Download{ID: strconv.Itoa(q.next), CID: id.String(), Output: out, Started: time.Now()}}
	q.all[d.ID] = d
	q.start(d)
	return d.Download, nil
}

// List returns the downloads, newest first.
func (q *Queue) List() []Download {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Download, 0, len(q.all))
	for _, d := range q.all {
		out = append(out, d.Download)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out
}

// File returns the output of the finished download id: an error wrapping
// [ErrNoDownload] if there is none, [ErrDownloadState] if it is not done.
func (q *Queue) File(id string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d, ok := q.all[id]
	switch {
	case !ok:
		return "", ErrNoDownload
	case d.State != StateDone:
		return "", fmt.Errorf("download is %s: %w", d.State, ErrDownloadState)
	}
	return d.Output, nil
}

// Pause stops a running download, keeping its verified chunks.
func (q *Queue) Pause(id string) (Download, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d, ok := q.all[id]
	if !ok {
		return Download{}, ErrNoDownload
	}
	if d.State != StateRunning {
		return d.Download, stateError(id, d.State)
	}
	d.State = StatePaused
	d.run.cancel()
	return d.Download, nil
}

// Resume runs a paused or failed download again, from its verified chunks.
func (q *Queue) Resume(id string) (Download, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d, ok := q.all[id]
	if !ok {
		return Download{}, ErrNoDownload
	}
	if d.State != StatePaused && d.State != StateFailed {
		return d.Download, stateError(id, d.State)
	}
	q.start(d)
	return d.Download, nil
}

// Cancel stops a download, drops it from the queue and, unless it was
// done, removes its partial data.
func (q *Queue) Cancel(id string) (Download, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d, ok := q.all[id]
	if !ok {
		return Download{}, ErrNoDownload
	}
	if d.State == StateRunning {
		d.run.cancel()
	}
	if d.State != StateDone {
		d.State = StateCancelled
		// A cancelled download drops its partial data: now if its run has
		// ended, else the run does as it ends (it takes mu first, so it
		// sees the state set here).
		select {
		case <-d.run.done:
			removePartial(d.Output)
		default:
		}
	}
	delete(q.all, id)
	return d.Download, nil
}

func stateError(id string, st DownloadState) error {
	return fmt.Errorf("download %s is %s: %w", id, st, ErrDownloadState)
}

// removePartial removes the partial data of a file download to out.
func removePartial(out string) {
	part := PartPath(out)
	os.Remove(part)
	os.Remove(part + ".state")
}
