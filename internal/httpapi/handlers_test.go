package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/transfer"
)

// fakeDownloads is a Downloads whose every action fails with err.
type fakeDownloads struct{ err error }

func (f fakeDownloads) Dir() string { return "/dl" }
func (f fakeDownloads) Add(id cid.Cid, output, name string) (transfer.Download, error) {
	return transfer.Download{ID: "1", CID: id.String(), Output: output, State: transfer.StateRunning}, f.err
}
func (f fakeDownloads) List() []transfer.Download                  { return nil }
func (f fakeDownloads) File(id string) (string, error)             { return "", f.err }
func (f fakeDownloads) Pause(id string) (transfer.Download, error) { return transfer.Download{}, f.err }
func (f fakeDownloads) Resume(id string) (transfer.Download, error) {
	return transfer.Download{}, f.err
}
func (f fakeDownloads) Cancel(id string) (transfer.Download, error) {
	return transfer.Download{}, f.err
}

// fakeLimits holds limits, refusing to set them when err is set.
type fakeLimits struct {
	up, down int64
	err      error
}

func (f *fakeLimits) Limits() (int64, int64) { return f.up, f.down }
func (f *fakeLimits) SetLimits(up, down int64) error {
	if f.err != nil {
		return f.err
	}
	f.up, f.down = up, down
	return nil
}

func do(t *testing.T, s *Server, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:5101"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer secret")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// The handlers run over the interfaces alone: the queue's errors map to
// their statuses, a relative output is refused before the queue sees it,
// and limits are validated and merged before they are set.
func TestHandlersOverFakes(t *testing.T) {
	lim := &fakeLimits{up: 5}
	mk := func(err error) *Server {
		return New(Config{Token: "secret", Services: Services{Downloads: fakeDownloads{err}, Limits: lim}})
	}
	for _, c := range []struct {
		err  error
		path string
		want int
	}{
		{transfer.ErrNoDownload, "/api/v1/downloads/9/pause", http.StatusNotFound},
		{fmt.Errorf("download 1 is done: %w", transfer.ErrDownloadState), "/api/v1/downloads/1/resume", http.StatusConflict},
		{fmt.Errorf("x (%w)", transfer.ErrInProgress), "/api/v1/downloads/1/cancel", http.StatusConflict},
	} {
		if code, body := do(t, mk(c.err), http.MethodPost, c.path, ""); code != c.want {
			t.Errorf("POST %s with %v: %d %s, want %d", c.path, c.err, code, body, c.want)
		}
	}
	s := mk(nil)
	id := "bafkr4ihkr4ld3m4gqkjf4reryxsy2s5tkbxprqkow6fin2iiyvreuzzab4"
	if code, body := do(t, s, http.MethodPost, "/api/v1/downloads", `{"cid":"`+id+`","output":"rel/path"}`); code != http.StatusBadRequest {
		t.Errorf("relative output: %d %s", code, body)
	}
	// A download whose file is gone is the client's 400, not a crash.
	if code, body := do(t, s, http.MethodGet, "/api/v1/downloads/1/file", ""); code != http.StatusBadRequest {
		t.Errorf("file: %d %s", code, body)
	}
	if code, body := do(t, s, http.MethodPost, "/api/v1/limits", `{"max_download":7}`); code != 200 || lim.up != 5 || lim.down != 7 {
		t.Errorf("set download limit: %d %s, limits %d/%d", code, body, lim.up, lim.down)
	}
	if code, _ := do(t, s, http.MethodPost, "/api/v1/limits", `{"max_upload":-1}`); code != http.StatusBadRequest || lim.up != 5 {
		t.Errorf("negative limit: %d, up %d", code, lim.up)
	}
	lim.err = errors.New("disk full")
	if code, _ := do(t, s, http.MethodPost, "/api/v1/limits", `{"max_upload":1}`); code != http.StatusInternalServerError {
		t.Errorf("unsaved limit: %d", code)
	}
	// Routes of services the node lacks answer 503 with api.ErrNotEnabled.
	if code, body := do(t, s, http.MethodGet, "/api/v1/jobs", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, api.ErrNotEnabled) {
		t.Errorf("jobs without compute: %d %s", code, body)
	}
}
