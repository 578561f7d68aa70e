package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/transfer"
)

// Downloads is the queue of background downloads (*transfer.Queue).
type Downloads interface {
	Dir() string
	Add(id cid.Cid, output, name string) (transfer.Download, error)
	List() []transfer.Download
	File(id string) (string, error)
	Pause(id string) (transfer.Download, error)
	Resume(id string) (transfer.Download, error)
	Cancel(id string) (transfer.Download, error)
}

func toAPIDownload(d transfer.Download) api.Download {
	return api.Download{ID: d.ID, CID: d.CID, Output: d.Output, State: string(d.State), Done: d.Done, Total: d.Total,
		Sources: d.Sources, Rate: d.Rate, Error: d.Error, Started: d.Started, Dir: d.Dir}
}

// downloadRoutes serves the downloads queue.
func downloadRoutes(s *Server, ds Downloads, nm *names, sh Shares) []route {
	action := func(act func(Downloads, string) (transfer.Download, error)) Func {
		return func(w http.ResponseWriter, r *http.Request) (any, error) {
			d, err := act(ds, r.PathValue("id"))
			if err != nil {
				return nil, err
			}
			return toAPIDownload(d), nil
		}
	}
	return []route{
		{pattern: "POST /api/v1/downloads", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.DownloadRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			id, err := cid.Decode(req.CID)
			if err != nil {
				return nil, BadRequest(badCID(req.CID, err))
			}
			if req.Output != "" {
				if req.Output, err = absPath(req.Output); err != nil {
					return nil, err
				}
			}
			if req.Output == "" && req.Name == "" {
				req.Name = nm.lookup(r.Context(), id.String(), sh)
			}
			d, err := ds.Add(id, req.Output, req.Name)
			if err != nil {
				return nil, err
			}
			return WithStatus(http.StatusAccepted, toAPIDownload(d)), nil
		}},
		{pattern: "GET /api/v1/downloads", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			l := ds.List()
			out := make([]api.Download, 0, len(l))
			for _, d := range l {
				out = append(out, toAPIDownload(d))
			}
			return out, nil
		}},
		// A finished download's file, so the web app can open it.
		{pattern: "GET /api/v1/downloads/{id}/file", raw: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			out, err := ds.File(r.PathValue("id"))
			if err != nil {
				s.WriteError(w, r, err)
				return
			}
			s.serveLocalFile(w, r, out)
		})},
		{pattern: "POST /api/v1/downloads/{id}/pause", fn: action(Downloads.Pause)},
		{pattern: "POST /api/v1/downloads/{id}/resume", fn: action(Downloads.Resume)},
		{pattern: "POST /api/v1/downloads/{id}/cancel", fn: action(Downloads.Cancel)},
	}
}

// serveLocalFile serves a file this node wrote (a download or a purchase)
// for the web app to open: inline, under its own name, and sandboxed so a
// downloaded HTML page cannot act as the app.
func (s *Server) serveLocalFile(w http.ResponseWriter, r *http.Request, path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		s.WriteError(w, r, BadRequest(fmt.Errorf("%s is a folder or gone", path)))
		return
	}
	w.Header().Set("Content-Disposition", "inline; filename*=UTF-8''"+url.PathEscape(filepath.Base(path)))
	w.Header().Set("Content-Security-Policy", "sandbox")
	http.ServeFile(w, r, path)
}
