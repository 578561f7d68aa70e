package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// ShareRequest is the body of POST /api/v1/shares and DELETE /api/v1/shares.
type ShareRequest struct {
	// Path is an absolute path on the daemon's machine.
	Path string `json:"path"`
}

// Share is one shared file or folder.
type Share struct {
	CID        string    `json:"cid"`
	Name       string    `json:"name"`
	Path       string    `json:"path"`
	Dir        bool      `json:"dir"`
	Size       int64     `json:"size"`
	Files      int       `json:"files"`
	Downloaded bool      `json:"downloaded"`
	Added      time.Time `json:"added"`
	Indexed    time.Time `json:"indexed"`
}

// GetRequest is the body of POST /api/v1/get.
type GetRequest struct {
	CID string `json:"cid"`
	// Output is an absolute path on the daemon's machine where the file or
	// folder is written.
	Output string `json:"output"`
	// Dir, used when Output is empty, is an absolute folder where the
	// download is saved under its file or folder name (as this node's
	// searches or shares know it), else under the content id.
	Dir string `json:"dir,omitempty"`
	// Timeout is how long the download may go without progress, as a Go
	// duration ("2m"); empty means the daemon's default.
	Timeout string `json:"timeout,omitempty"`
}

// GetEvent is one line of the NDJSON stream POST /api/v1/get answers:
// one "plan" event (the file count and total size, sent once the whole tree
// is known and checked, before anything is written), "progress" events while
// downloading, then one "done" or "error".
type GetEvent struct {
	Type string `json:"type"`
	// plan
	Files int `json:"files,omitempty"`
	// progress (Total also in plan)
	Done    int64   `json:"done,omitempty"`
	Total   int64   `json:"total,omitempty"`
	Sources int     `json:"sources,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
	// done
	Result *GetResult `json:"result,omitempty"`
	// error
	Error string `json:"error,omitempty"`
}

// GetResult describes a completed download.
type GetResult struct {
	CID        string  `json:"cid"`
	Path       string  `json:"path"`
	Dir        bool    `json:"dir"`
	Files      int     `json:"files"`
	Size       int64   `json:"size"`
	Fetched    int64   `json:"fetched"`
	Resumed    int64   `json:"resumed"`
	Peers      int     `json:"peers"`
	DurationMS float64 `json:"duration_ms"`
}

// AddShare shares a file or folder in place.
func (c *Client) AddShare(ctx context.Context, path string) (Share, error) {
	var v Share
	return v, c.Do(ctx, http.MethodPost, Prefix+"/shares", ShareRequest{Path: path}, &v)
}

// Shares lists what the node shares.
func (c *Client) Shares(ctx context.Context) ([]Share, error) {
	var v []Share
	return v, c.Do(ctx, http.MethodGet, Prefix+"/shares", nil, &v)
}

// SharesAll lists every share, the node's internal files (compute blobs,
// market listings and goods) included.
func (c *Client) SharesAll(ctx context.Context) ([]Share, error) {
	var v []Share
	return v, c.Do(ctx, http.MethodGet, Prefix+"/shares?all=true", nil, &v)
}

// RemoveShare stops sharing path.
func (c *Client) RemoveShare(ctx context.Context, path string) error {
	return c.Do(ctx, http.MethodDelete, Prefix+"/shares?path="+url.QueryEscape(path), nil, nil)
}

// Get downloads a file or folder, calling progress (if not nil) with the
// plan event and each progress event, and returns the result. Cancelling ctx stops the
// download; the daemon keeps the verified chunks for a later Get.
func (c *Client) Get(ctx context.Context, req GetRequest, progress func(GetEvent)) (GetResult, error) {
	body, err := c.Stream(ctx, http.MethodPost, Prefix+"/get", req)
	if err != nil {
		return GetResult{}, err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev GetEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return GetResult{}, fmt.Errorf("api: bad event %q: %w", sc.Text(), err)
		}
		switch ev.Type {
		case "plan", "progress":
			if progress != nil {
				progress(ev)
			}
		case "done":
			if ev.Result == nil {
				return GetResult{}, fmt.Errorf("api: done event without result")
			}
			return *ev.Result, nil
		case "error":
			return GetResult{}, &Error{Status: http.StatusBadGateway, Message: ev.Error}
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return GetResult{}, ctx.Err()
		}
		return GetResult{}, fmt.Errorf("api: download stream: %w", err)
	}
	return GetResult{}, fmt.Errorf("api: download stream ended without a result")
}

// DownloadRequest is the body of POST /api/v1/downloads. Output is an
// absolute path; empty means HOME/downloads/NAME (or the CID when Name is
// empty or not a plain file name).
type DownloadRequest struct {
	CID    string `json:"cid"`
	Output string `json:"output,omitempty"`
	Name   string `json:"name,omitempty"`
}

// Download is a background download; State is running, paused, done,
// failed or cancelled.
type Download struct {
	ID      string    `json:"id"`
	CID     string    `json:"cid"`
	Output  string    `json:"output"`
	State   string    `json:"state"`
	Done    int64     `json:"done"`
	Total   int64     `json:"total"`
	Sources int       `json:"sources"`
	Rate    float64   `json:"rate"`
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started"`
	// Dir is true once a finished download turned out to be a folder
	// (GET /api/v1/downloads/{id}/file serves files only).
	Dir bool `json:"dir,omitempty"`
}

// ShareRemoved answers DELETE /api/v1/shares: the path no longer shared.
type ShareRemoved struct {
	Removed string `json:"removed"`
}

// Indexing answers GET /api/v1/shares/indexing: the folder being indexed
// and how far it got. When none is, Path is empty and it is written as {}.
type Indexing struct {
	Path    string    `json:"path"`
	Files   int64     `json:"files"`
	Bytes   int64     `json:"bytes"`
	Started time.Time `json:"started"`
}

// MarshalJSON writes an Indexing with no Path as {}.
func (i Indexing) MarshalJSON() ([]byte, error) {
	if i.Path == "" {
		return []byte("{}"), nil
	}
	type plain Indexing
	return json.Marshal(plain(i))
}

// ShareIndexing returns the indexing under way (Path empty when none).
func (c *Client) ShareIndexing(ctx context.Context) (Indexing, error) {
	var v Indexing
	return v, c.Do(ctx, http.MethodGet, Prefix+"/shares/indexing", nil, &v)
}

// AddDownload starts a background download.
func (c *Client) AddDownload(ctx context.Context, req DownloadRequest) (Download, error) {
	var v Download
	return v, c.Do(ctx, http.MethodPost, Prefix+"/downloads", req, &v)
}

// Downloads lists the background downloads, newest first.
func (c *Client) Downloads(ctx context.Context) ([]Download, error) {
	var v []Download
	return v, c.Do(ctx, http.MethodGet, Prefix+"/downloads", nil, &v)
}

// PauseDownload pauses a running download.
func (c *Client) PauseDownload(ctx context.Context, id string) (Download, error) {
	return c.downloadAction(ctx, id, "pause")
}

// ResumeDownload resumes a paused or failed download.
func (c *Client) ResumeDownload(ctx context.Context, id string) (Download, error) {
	return c.downloadAction(ctx, id, "resume")
}

// CancelDownload cancels a download and drops its partial data.
func (c *Client) CancelDownload(ctx context.Context, id string) (Download, error) {
	return c.downloadAction(ctx, id, "cancel")
}

func (c *Client) downloadAction(ctx context.Context, id, action string) (Download, error) {
	var v Download
	return v, c.Do(ctx, http.MethodPost, Prefix+"/downloads/"+url.PathEscape(id)+"/"+action, nil, &v)
}

// DownloadFile opens a finished download's file; the caller closes it.
func (c *Client) DownloadFile(ctx context.Context, id string) (io.ReadCloser, error) {
	return c.Stream(ctx, http.MethodGet, Prefix+"/downloads/"+url.PathEscape(id)+"/file", nil)
}
