package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/httpapi"
	"github.com/peerpath/peerpath/internal/transfer"
)

// downloads runs background downloads that can be paused, resumed and
// cancelled (the web app's Downloads page). A paused download keeps its
// verified chunks (transfer's durable record), so resuming fetches only
// what is missing.
type downloads struct {
	n    *Node
	dir  string
	mu   sync.Mutex
	next int
	all  map[string]*download
	// runs holds the latest run writing to each output, until it ends: a
	// new run to the same output (a resume, or a new download after a
	// cancel) starts only after it.
	runs map[string]*downloadRun
	wg   sync.WaitGroup
}

type download struct {
	api.Download
	// run is the latest run of the download; a run's outcome is applied
	// only while it is still the latest, so a paused run that ends late
	// never overwrites the state of the run that resumed it.
	run *downloadRun
}

// downloadRun is one run of a download, from start (or resume) until its
// transfer.Get returns.
type downloadRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the run's Get has returned
}

func newDownloads(n *Node) (*downloads, error) {
	dir := filepath.Join(string(n.home), "downloads")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: downloads folder: %w", err)
	}
	return &downloads{n: n, dir: dir, all: map[string]*download{}, runs: map[string]*downloadRun{}}, nil
}

// start runs (or resumes) d in the background. Called with mu held. The
// new run first waits for the previous run to the same output to end:
// transfer allows one Get per output at a time, and a paused or cancelled
// run may still be unwinding (closing streams, recording chunks) when the
// resume, or a new download to that output, comes.
func (ds *downloads) start(ctx context.Context, d *download) {
	ctx, cancel := context.WithCancel(ctx)
	prev := ds.runs[d.Output]
	r := &downloadRun{cancel: cancel, done: make(chan struct{})}
	d.run = r
	ds.runs[d.Output] = r
	d.State = "running"
	d.Error = ""
	id, _ := cid.Decode(d.CID)
	ds.wg.Add(1)
	go func() {
		defer ds.wg.Done()
		defer func() {
			ds.mu.Lock()
			if d.run == r && d.State == "cancelled" {
				// Cancelled while this run wrote: drop its partial data
				// before the next run to this output may start.
				removePartial(d.Output)
			}
			if ds.runs[d.Output] == r {
				delete(ds.runs, d.Output)
			}
			ds.mu.Unlock()
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
		defer ds.n.reputation()()
		res, err := ds.n.files.transfer.Get(ctx, id, transfer.GetOptions{
			Output: d.Output,
			Progress: func(p transfer.Progress) {
				ds.mu.Lock()
				if d.run == r {
					d.Done, d.Total, d.Sources, d.Rate = p.Done, p.Total, p.Sources, p.Rate
				}
				ds.mu.Unlock()
			},
		})
		ds.mu.Lock()
		defer ds.mu.Unlock()
		switch {
		case d.run != r:
			// Paused and resumed since: the newer run owns the state.
		case err == nil:
			d.State, d.Done, d.Total, d.Sources, d.Rate = "done", res.Size, res.Size, 0, 0
			d.Dir = res.Dir
			d.Error = ""
		case d.State == "paused" || d.State == "cancelled":
			// Stopped on purpose.
			d.Sources, d.Rate = 0, 0
		default:
			d.State, d.Error, d.Sources, d.Rate = "failed", err.Error(), 0, 0
		}
	}()
}

func (ds *downloads) add(ctx context.Context, req api.DownloadRequest) (api.Download, error) {
	id, err := cid.Decode(req.CID)
	if err != nil {
		return api.Download{}, httpapi.BadRequest(fmt.Errorf("bad content id %q: %w", req.CID, err))
	}
	out := req.Output
	if out == "" {
		name := req.Name
		if name == "" || filepath.Base(name) != name || name == "." || name == ".." {
			name = id.String()
		}
		if err := os.MkdirAll(ds.dir, 0o755); err != nil {
			return api.Download{}, err
		}
		out = filepath.Join(ds.dir, name)
	}
	if out, err = absPath(out); err != nil {
		return api.Download{}, err
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	for _, d := range ds.all {
		if d.Output == out && (d.State == "running" || d.State == "paused") {
			return d.Download, &httpapi.StatusError{Status: http.StatusConflict, Err: fmt.Errorf("%s is already being downloaded", out)}
		}
	}
	ds.next++
	d := &download{Download: api.Download{ID: strconv.Itoa(ds.next), CID: id.String(), Output: out, Started: time.Now()}}
	ds.all[d.ID] = d
	ds.start(ctx, d)
	return d.Download, nil
}

func (ds *downloads) list() []api.Download {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	out := make([]api.Download, 0, len(ds.all))
	for _, d := range ds.all {
		out = append(out, d.Download)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out
}

var errNoDownload = errors.New("no such download")

func (ds *downloads) act(ctx context.Context, id, action string) (api.Download, error) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d, ok := ds.all[id]
	if !ok {
		return api.Download{}, httpapi.NotFound(errNoDownload)
	}
	switch action {
	case "pause":
		if d.State != "running" {
			return d.Download, &httpapi.StatusError{Status: http.StatusConflict, Err: fmt.Errorf("download %s is %s", id, d.State)}
		}
		d.State = "paused"
		d.run.cancel()
	case "resume":
		if d.State != "paused" && d.State != "failed" {
			return d.Download, &httpapi.StatusError{Status: http.StatusConflict, Err: fmt.Errorf("download %s is %s", id, d.State)}
		}
		ds.start(ctx, d)
	case "cancel":
		if d.State == "running" {
			d.run.cancel()
		}
		if d.State != "done" {
			d.State = "cancelled"
			// A cancelled download drops its partial data: now if its run
			// has ended, else the run does as it ends (it takes mu first,
			// so it sees the state set here).
			select {
			case <-d.run.done:
				removePartial(d.Output)
			default:
			}
		}
		delete(ds.all, id)
	default:
		return api.Download{}, httpapi.BadRequest(fmt.Errorf("unknown action %q", action))
	}
	return d.Download, nil
}

// removePartial removes the partial data of a file download to out.
func removePartial(out string) {
	part := transfer.PartPath(out)
	os.Remove(part)
	os.Remove(part + ".state")
}

// serve keeps the manager until ctx ends, then waits for its downloads.
func (ds *downloads) serve(ctx context.Context) error {
	<-ctx.Done()
	ds.wg.Wait()
	return nil
}

func (n *Node) downloadRoutes() {
	// Downloads outlive the request that started them; they end with the
	// node.
	a, ds := n.api, n.downloads
	a.HandleFunc("POST /api/v1/downloads", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.DownloadRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		d, err := ds.add(n.runCtx(), req)
		if err != nil {
			return nil, err
		}
		return httpapi.WithStatus(http.StatusAccepted, d), nil
	})
	a.HandleFunc("GET /api/v1/downloads", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return ds.list(), nil
	})
	// GET /api/v1/downloads/{id}/file serves a finished download's file, so
	// the web app can open it.
	a.Handle("GET /api/v1/downloads/{id}/file", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.mu.Lock()
		d, ok := ds.all[r.PathValue("id")]
		var out, state string
		if ok {
			out, state = d.Output, d.State
		}
		ds.mu.Unlock()
		switch {
		case !ok:
			n.api.WriteError(w, r, httpapi.NotFound(errNoDownload))
			return
		case state != "done":
			n.api.WriteError(w, r, &httpapi.StatusError{Status: http.StatusConflict, Err: fmt.Errorf("download is %s", state)})
			return
		}
		n.serveLocalFile(w, r, out)
	}))
	for _, action := range []string{"pause", "resume", "cancel"} {
		a.HandleFunc("POST /api/v1/downloads/{id}/"+action, func(w http.ResponseWriter, r *http.Request) (any, error) {
			return ds.act(n.runCtx(), r.PathValue("id"), action)
		})
	}
}

// serveLocalFile serves a file this node wrote (a download or a purchase)
// for the web app to open: inline, under its own name, and sandboxed so a
// downloaded HTML page cannot act as the app.
func (n *Node) serveLocalFile(w http.ResponseWriter, r *http.Request, path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		n.api.WriteError(w, r, httpapi.BadRequest(fmt.Errorf("%s is a folder or gone", path)))
		return
	}
	w.Header().Set("Content-Disposition", "inline; filename*=UTF-8''"+url.PathEscape(filepath.Base(path)))
	w.Header().Set("Content-Security-Policy", "sandbox")
	http.ServeFile(w, r, path)
}
