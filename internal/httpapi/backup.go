package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/backup"
)

// Backup is the backup service.
type Backup interface {
	Create(ctx context.Context, paths []string, opt backup.CreateOptions) (backup.Result, error)
	List(ctx context.Context) ([]backup.Snapshot, error)
	Status(ctx context.Context, id string) (backup.Status, error)
	Restore(ctx context.Context, what, out string, opt backup.RestoreOptions) (backup.RestoreResult, error)
	Forget(ctx context.Context, id string) error
}

func backupRoutes(b Backup) []route {
	return []route{
		{pattern: "POST /api/v1/backup", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.BackupCreateRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			opt := backup.CreateOptions{Name: req.Name, K: req.K, N: req.N}
			var stream *progressStream
			if req.Progress {
				stream = newProgressStream(w)
				opt.Progress = stream.progress
			}
			res, err := b.Create(r.Context(), req.Paths, opt)
			out := api.BackupCreated{Snapshot: res.Snapshot, Cap: res.Cap, Files: res.Files, Bytes: res.Bytes, Stored: res.Stored}
			if stream != nil {
				return stream.end(err, api.BackupEvent{Type: "done", Created: &out})
			}
			if err != nil {
				return nil, err
			}
			return out, nil
		}},
		{pattern: "GET /api/v1/backup", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			list, err := b.List(r.Context())
			if err != nil {
				return nil, err
			}
			out := []api.BackupSnapshot{}
			for _, s := range list {
				out = append(out, api.BackupSnapshot{Snapshot: s.ID, Name: s.Name, Created: s.Created, Cap: s.Cap, Files: s.Files, Bytes: s.Bytes, Stored: s.Stored})
			}
			return out, nil
		}},
		{pattern: "GET /api/v1/backup/{id}", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			st, err := b.Status(r.Context(), r.PathValue("id"))
			if err != nil {
				return nil, err
			}
			out := api.BackupStatus{Snapshot: st.Snapshot, Name: st.Name, ManifestHealthy: st.Manifest, Repairs: st.Repairs, Files: []api.BackupFileHealth{}}
			for _, f := range st.Files {
				out.Files = append(out.Files, api.BackupFileHealth{Path: f.Path, Chunks: f.Chunks, Healthy: f.Healthy, N: f.N})
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/backup/restore", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.BackupRestoreRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			var opt backup.RestoreOptions
			var stream *progressStream
			if req.Progress {
				stream = newProgressStream(w)
				opt.Progress = stream.progress
			}
			res, err := b.Restore(r.Context(), req.Snapshot, req.Output, opt)
			out := api.BackupRestored{Snapshot: res.Snapshot, Name: res.Name, Files: res.Files, Bytes: res.Bytes, Skipped: res.Skipped, Output: res.Output}
			if stream != nil {
				return stream.end(err, api.BackupEvent{Type: "done", Restored: &out})
			}
			if err != nil {
				return nil, err
			}
			return out, nil
		}},
		{pattern: "DELETE /api/v1/backup/{id}", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			id := r.PathValue("id")
			if err := b.Forget(r.Context(), id); err != nil {
				return nil, err
			}
			return api.BackupForgotten{Snapshot: id}, nil
		}},
	}
}

// progressStream sends a create's or restore's progress as NDJSON, at
// most four events a second, then its result or error.
type progressStream struct {
	s    *NDJSON
	mu   sync.Mutex
	last time.Time
}

func newProgressStream(w http.ResponseWriter) *progressStream {
	return &progressStream{s: NewNDJSON(w)}
}

func (p *progressStream) progress(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done < total && time.Since(p.last) < 250*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.s.Send(api.BackupEvent{Type: "progress", Done: done, Total: total})
}

// end finishes the stream; an error before anything was streamed is
// answered with its status as usual.
func (p *progressStream) end(err error, done api.BackupEvent) (any, error) {
	if err != nil {
		if !p.s.Started() {
			return nil, err
		}
		p.s.Send(api.BackupEvent{Type: "error", Error: err.Error()})
		return nil, nil
	}
	p.s.Send(done)
	return nil, nil
}
