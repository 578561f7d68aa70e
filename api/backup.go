package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// BackupCreateRequest is the body of POST /api/v1/backup.
type BackupCreateRequest struct {
	// Paths are absolute paths on the daemon's machine.
	Paths []string `json:"paths"`
	Name  string   `json:"name,omitempty"`
	// K and N: any K of a chunk's N shares rebuild it (default 10 of 16).
	K int `json:"k,omitempty"`
	N int `json:"n,omitempty"`
	// Progress asks for an NDJSON stream of [BackupEvent]s instead of one
	// JSON answer.
	Progress bool `json:"progress,omitempty"`
}

// BackupCreated answers POST /api/v1/backup.
type BackupCreated struct {
	Snapshot string `json:"snapshot"`
	// Cap alone restores the snapshot on any node: keep it secret and safe.
	Cap   string `json:"cap"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	// Stored is the bytes of new chunks (the rest were deduplicated).
	Stored int64 `json:"stored"`
}

// BackupSnapshot is one entry of GET /api/v1/backup.
type BackupSnapshot struct {
	Snapshot string    `json:"snapshot"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	Cap      string    `json:"cap"`
	Files    int       `json:"files"`
	Bytes    int64     `json:"bytes"`
	Stored   int64     `json:"stored"`
}

// BackupFileHealth is one file of GET /api/v1/backup/{id}.
type BackupFileHealth struct {
	Path string `json:"path"`
	// Chunks is the number of chunks; Healthy the fewest shares alive of
	// any chunk, out of N.
	Chunks  int `json:"chunks"`
	Healthy int `json:"healthy"`
	N       int `json:"n"`
}

// BackupStatus answers GET /api/v1/backup/{id}: every share challenged now.
type BackupStatus struct {
	Snapshot        string             `json:"snapshot"`
	Name            string             `json:"name"`
	ManifestHealthy int                `json:"manifest_healthy"`
	Repairs         int                `json:"repairs"`
	Files           []BackupFileHealth `json:"files"`
}

// BackupRestoreRequest is the body of POST /api/v1/backup/restore.
type BackupRestoreRequest struct {
	// Snapshot is a snapshot id of this node or a capability string.
	Snapshot string `json:"snapshot"`
	// Output is an absolute folder on the daemon's machine.
	Output string `json:"output"`
	// Progress asks for an NDJSON stream of [BackupEvent]s.
	Progress bool `json:"progress,omitempty"`
}

// BackupEvent is one line of the NDJSON stream of a create or restore
// asked with Progress: "progress" events, then one "done" (with Created or
// Restored) or "error".
type BackupEvent struct {
	Type     string          `json:"type"`
	Done     int64           `json:"done,omitempty"`
	Total    int64           `json:"total,omitempty"`
	Created  *BackupCreated  `json:"created,omitempty"`
	Restored *BackupRestored `json:"restored,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// backupStream runs a create or restore with progress and returns its
// "done" event.
func (c *Client) backupStream(ctx context.Context, path string, req any, progress func(done, total int64)) (BackupEvent, error) {
	body, err := c.Stream(ctx, http.MethodPost, Prefix+path, req)
	if err != nil {
		return BackupEvent{}, err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev BackupEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return BackupEvent{}, fmt.Errorf("api: bad event %q: %w", sc.Text(), err)
		}
		switch ev.Type {
		case "progress":
			if progress != nil {
				progress(ev.Done, ev.Total)
			}
		case "done":
			return ev, nil
		case "error":
			return BackupEvent{}, &Error{Status: http.StatusBadGateway, Message: ev.Error}
		}
	}
	if err := sc.Err(); err != nil {
		return BackupEvent{}, err
	}
	return BackupEvent{}, fmt.Errorf("api: stream ended without a result")
}

// BackupCreateProgress is BackupCreate with progress reports.
func (c *Client) BackupCreateProgress(ctx context.Context, req BackupCreateRequest, progress func(done, total int64)) (BackupCreated, error) {
	req.Progress = true
	ev, err := c.backupStream(ctx, "/backup", req, progress)
	if err != nil {
		return BackupCreated{}, err
	}
	if ev.Created == nil {
		return BackupCreated{}, fmt.Errorf("api: done event without result")
	}
	return *ev.Created, nil
}

// BackupRestoreProgress is BackupRestore with progress reports.
func (c *Client) BackupRestoreProgress(ctx context.Context, req BackupRestoreRequest, progress func(done, total int64)) (BackupRestored, error) {
	req.Progress = true
	ev, err := c.backupStream(ctx, "/backup/restore", req, progress)
	if err != nil {
		return BackupRestored{}, err
	}
	if ev.Restored == nil {
		return BackupRestored{}, fmt.Errorf("api: done event without result")
	}
	return *ev.Restored, nil
}

// BackupRestored answers POST /api/v1/backup/restore.
type BackupRestored struct {
	Snapshot string `json:"snapshot"`
	Name     string `json:"name"`
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"`
	Skipped  int    `json:"skipped"`
	Output   string `json:"output"`
}

// BackupForgotten answers DELETE /api/v1/backup/{id}.
type BackupForgotten struct {
	Snapshot string `json:"snapshot"`
}

// BackupCreate backs paths up as one snapshot.
func (c *Client) BackupCreate(ctx context.Context, req BackupCreateRequest) (BackupCreated, error) {
	var v BackupCreated
	return v, c.Do(ctx, http.MethodPost, Prefix+"/backup", req, &v)
}

// BackupList lists this node's snapshots.
func (c *Client) BackupList(ctx context.Context) ([]BackupSnapshot, error) {
	var v []BackupSnapshot
	return v, c.Do(ctx, http.MethodGet, Prefix+"/backup", nil, &v)
}

// BackupStatus checks a snapshot's health now.
func (c *Client) BackupStatus(ctx context.Context, id string) (BackupStatus, error) {
	var v BackupStatus
	return v, c.Do(ctx, http.MethodGet, Prefix+"/backup/"+url.PathEscape(id), nil, &v)
}

// BackupRestore restores a snapshot (id or capability) into a folder.
func (c *Client) BackupRestore(ctx context.Context, req BackupRestoreRequest) (BackupRestored, error) {
	var v BackupRestored
	return v, c.Do(ctx, http.MethodPost, Prefix+"/backup/restore", req, &v)
}

// BackupForget drops a snapshot and the chunks only it used.
func (c *Client) BackupForget(ctx context.Context, id string) (BackupForgotten, error) {
	var v BackupForgotten
	return v, c.Do(ctx, http.MethodDelete, Prefix+"/backup/"+url.PathEscape(id), nil, &v)
}
