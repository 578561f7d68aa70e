package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/publish"
)

// fakePublish records what the routes hand it and fails with err.
type fakePublish struct {
	err  error
	name string
	data []byte
	k, n int
}

func (f *fakePublish) Publish(_ context.Context, name string, plain []byte, k, n int) (publish.Published, error) {
	f.name, f.data, f.k, f.n = name, plain, k, n
	return publish.Published{URL: "peerpath://doc/x#y", CID: "c", K: k, N: n, Seq: 1, Secret: "s"}, f.err
}
func (f *fakePublish) Update(_ context.Context, _, name string, plain []byte, k, n int, _ string) (publish.Published, error) {
	f.name, f.data = name, plain
	return publish.Published{}, f.err
}
func (f *fakePublish) Delete(context.Context, string, string) (publish.Deleted, error) {
	return publish.Deleted{}, f.err
}
func (f *fakePublish) Save(context.Context, string, string, string) (publish.Saved, error) {
	return publish.Saved{}, f.err
}
func (f *fakePublish) List(context.Context) ([]publish.Doc, error) { return nil, f.err }

// The publish routes read a file through one descriptor within the
// document bound, default to 3 of 10, refuse relative paths and folders,
// and map the service's errors to their statuses.
func TestPublishRoutes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "memo.txt")
	os.WriteFile(file, []byte("hello"), 0o644)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, nil, 0o644)
	os.Truncate(big, publish.MaxDocument+1)
	f := &fakePublish{}
	s := New(Config{Token: "secret", Services: Services{Publish: f}})
	code, body := do(t, s, http.MethodPost, "/api/v1/publish", fmt.Sprintf(`{"path":%q}`, file))
	var p api.Published
	if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || p.URL == "" || p.K != 3 || p.N != 10 {
		t.Fatalf("publish: %d %s", code, body)
	}
	if f.name != "memo.txt" || string(f.data) != "hello" || f.k != 3 || f.n != 10 {
		t.Fatalf("service got %q %q %d/%d", f.name, f.data, f.k, f.n)
	}
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/api/v1/publish", `{"path":"memo.txt"}`, http.StatusBadRequest},
		{"/api/v1/publish", fmt.Sprintf(`{"path":%q}`, dir), http.StatusBadRequest},
		{"/api/v1/publish", fmt.Sprintf(`{"path":%q}`, filepath.Join(dir, "none")), http.StatusNotFound},
		{"/api/v1/publish", fmt.Sprintf(`{"path":%q}`, big), http.StatusBadRequest},
		{"/api/v1/publish/get", `{"url":"peerpath://doc/x#y","output":"rel/out"}`, http.StatusBadRequest},
		{"/api/v1/publish/get", `{"url":"peerpath://doc/x#y","dir":"rel"}`, http.StatusBadRequest},
	} {
		if code, body := do(t, s, http.MethodPost, c.path, c.body); code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.path, c.body, code, body, c.want)
		}
	}
	for _, c := range []struct {
		err  error
		path string
		want int
	}{
		{publish.ErrNoSecret, "/api/v1/publish/delete", http.StatusForbidden},
		{publish.ErrWrongSecret, "/api/v1/publish/delete", http.StatusForbidden},
		{publish.ErrDeleted, "/api/v1/publish/get", http.StatusGone},
		{publish.ErrNotFound, "/api/v1/publish/get", http.StatusNotFound},
		{fmt.Errorf("%w: x", publish.ErrBadURL), "/api/v1/publish/get", http.StatusBadRequest},
		{fmt.Errorf("%w: peer p: bad signature", publish.ErrRefused), "/api/v1/publish/delete", http.StatusBadGateway},
	} {
		f.err = c.err
		if code, body := do(t, s, http.MethodPost, c.path, `{"url":"peerpath://doc/x#y"}`); code != c.want || !strings.Contains(body, "publish") {
			t.Errorf("%v on %s: %d %s, want %d", c.err, c.path, code, body, c.want)
		}
	}
}
