package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

func toAPIShare(s share.Share) api.Share {
	return api.Share{CID: s.CID, Name: s.Name, Path: s.Path, Dir: s.Dir, Size: s.Size, Files: s.Files,
		Downloaded: s.Downloaded, Added: s.Added, Indexed: s.Indexed}
}

// absPath checks that p is an absolute path and cleans it: the API takes
// only absolute paths, since the daemon's working folder is not the
// client's. A bad path is a 400.
func absPath(p string) (string, error) {
	if p == "" {
		return "", BadRequest(errors.New("path is required"))
	}
	if !filepath.IsAbs(p) {
		return "", BadRequest(fmt.Errorf("path %q must be absolute", p))
	}
	return filepath.Clean(p), nil
}

// shareRoutes serves the shared files and folders.
func shareRoutes(sh Shares) []route {
	return []route{
		{pattern: "POST /api/v1/shares", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.ShareRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			p, err := absPath(req.Path)
			if err != nil {
				return nil, err
			}
			s, err := sh.Add(r.Context(), p)
			if err != nil {
				return nil, err
			}
			return toAPIShare(s), nil
		}},
		{pattern: "GET /api/v1/shares", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			list := sh.List
			if r.URL.Query().Get("all") == "true" {
				// The node's internal files too (compute blobs, market
				// listings and goods): for diagnosis and tests.
				list = sh.ListAll
			}
			l, err := list(r.Context())
			if err != nil {
				return nil, err
			}
			out := make([]api.Share, 0, len(l))
			for _, s := range l {
				out = append(out, toAPIShare(s))
			}
			return out, nil
		}},
		{pattern: "DELETE /api/v1/shares", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			p, err := absPath(r.URL.Query().Get("path"))
			if err != nil {
				return nil, err
			}
			if err := sh.Remove(r.Context(), p); err != nil {
				return nil, err
			}
			return api.ShareRemoved{Removed: p}, nil
		}},
		// The indexing under way, or {} when none runs.
		{pattern: "GET /api/v1/shares/indexing", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			p, ok := sh.Indexing()
			if !ok {
				return api.Indexing{}, nil
			}
			return api.Indexing{Path: p.Path, Files: p.Files, Bytes: p.Bytes, Started: p.Started}, nil
		}},
	}
}

// getRoutes serves POST /api/v1/get: a download that runs for as long as
// the request lasts, streaming NDJSON progress events, then the result or
// the error.
func getRoutes(tr Transfer, nm *names, sh Shares) []route {
	return []route{{pattern: "POST /api/v1/get", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.GetRequest
		if err := DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		id, err := cid.Decode(req.CID)
		if err != nil {
			return nil, BadRequest(badCID(req.CID, err))
		}
		if req.Output == "" && req.Dir != "" {
			// Saved under its name in Dir: the name a search showed, or
			// this node's own share's, else the id.
			dir, err := absPath(req.Dir)
			if err != nil {
				return nil, err
			}
			name := nm.lookup(r.Context(), id.String(), sh)
			if name == "" {
				name = id.String()
			}
			req.Output = filepath.Join(dir, name)
		}
		out, err := absPath(req.Output)
		if err != nil {
			return nil, err
		}
		var timeout time.Duration
		if req.Timeout != "" {
			if timeout, err = time.ParseDuration(req.Timeout); err != nil || timeout <= 0 {
				return nil, BadRequest(fmt.Errorf("bad timeout %q", req.Timeout))
			}
		}
		// A second download to the same output fails at once with
		// transfer.ErrInProgress (409), before anything is streamed.
		stream := NewNDJSON(w)
		emit := func(ev api.GetEvent) { stream.Send(ev) }
		res, err := tr.Get(r.Context(), id, transfer.GetOptions{
			Output:  out,
			Timeout: timeout,
			Plan: func(p transfer.Plan) {
				emit(api.GetEvent{Type: "plan", Files: p.Files, Total: p.Size})
			},
			Progress: func(p transfer.Progress) {
				emit(api.GetEvent{Type: "progress", Done: p.Done, Total: p.Total, Sources: p.Sources, Rate: p.Rate})
			},
		})
		if err != nil {
			if !stream.Started() {
				return nil, err
			}
			emit(api.GetEvent{Type: "error", Error: err.Error()})
			return nil, nil
		}
		emit(api.GetEvent{Type: "done", Result: &api.GetResult{
			CID: res.ID.String(), Path: res.Path, Dir: res.Dir, Files: res.Files, Size: res.Size,
			Fetched: res.Fetched, Resumed: res.Resumed, Peers: res.Peers,
			DurationMS: float64(res.Duration) / float64(time.Millisecond),
		}})
		return nil, nil
	}}}
}
