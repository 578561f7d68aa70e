package policy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPolicyPersists(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	p, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	a, b := fileID("a"), fileID("b")
	if p.Refuses(a) {
		t.Fatal("empty policy refuses")
	}
	f, _ := os.Open("testdata/gateway.deny")
	defer f.Close()
	info, err := p.Add(ctx, "gateway.deny", f)
	if err != nil {
		t.Fatal(err)
	}
	if info.Deny != 6 || info.Ignored != 5 || info.Name != "peerpath test list" || info.Source != "gateway.deny" {
		t.Fatalf("info %+v", info)
	}
	if _, err := p.Add(ctx, "mine", strings.NewReader("/ipfs/"+a.String()+"\n/ipfs/"+b.String()+"\n")); err != nil {
		t.Fatal(err)
	}
	// A later list overrides an earlier one where both match.
	if _, err := p.Add(ctx, "exceptions", strings.NewReader("!/ipfs/"+b.String()+"\n")); err != nil {
		t.Fatal(err)
	}
	if !p.Refuses(a) || p.Refuses(b) || !p.Refuses(fileID("denied-by-legacy")) {
		t.Fatal("decisions before restart")
	}
	if err := p.Check(a); !errors.Is(err, ErrRefused) {
		t.Fatalf("Check: %v", err)
	}
	// A bad list changes nothing.
	if _, err := p.Add(ctx, "bad", strings.NewReader("version: 9\n---\n")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad list: %v", err)
	}
	if len(p.Lists()) != 3 {
		t.Fatalf("%d lists", len(p.Lists()))
	}

	// Restart: the same lists, in the same order, with the same decisions.
	q, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ls := q.Lists()
	if len(ls) != 3 || ls[0].Source != "gateway.deny" || ls[0].Deny != 6 || ls[2].Source != "exceptions" {
		t.Fatalf("after restart: %+v", ls)
	}
	if !q.Refuses(a) || q.Refuses(b) || !q.Refuses(fileID("denied-by-blake3-double")) {
		t.Fatal("decisions after restart")
	}
	if err := q.Remove(ls[2].ID); err != nil {
		t.Fatal(err)
	}
	if !q.Refuses(b) {
		t.Fatal("removing the exceptions did not deny b again")
	}
	if err := q.Remove("0123456789abcdef"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove unknown: %v", err)
	}
	r, _ := Open(Config{Dir: dir})
	if len(r.Lists()) != 2 || !r.Refuses(b) {
		t.Fatal("a removal did not persist")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 { // two lists and the index, no temporary files
		t.Fatalf("dir holds %d files", len(entries))
	}
}

// An index entry whose id is not one the package made (a path) is
// dropped: no index names a file outside the policy folder.
func TestIndexIDsChecked(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/lists.json", []byte(`[{"id":"../../x","source":"evil"},{"id":"0123456789abcdef","source":"gone"}]`), 0o600)
	p, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Lists()) != 0 {
		t.Fatalf("loaded %+v", p.Lists())
	}
}

func TestAddURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := fileID("from-url")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/list.deny":
			w.Write([]byte("name: remote\n---\n/ipfs/" + id.String() + "\n"))
		case "/huge":
			w.Header().Set("Content-Length", "999999999999")
		case "/slow":
			w.Write([]byte("/ipfs/" + id.String() + "\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p, err := Open(Config{Dir: t.TempDir(), HTTPClient: &http.Client{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.AddURL(ctx, srv.URL+"/list.deny")
	if err != nil || info.Name != "remote" || !p.Refuses(id) {
		t.Fatalf("add url: %v %+v", err, info)
	}
	if _, err := p.AddURL(ctx, srv.URL+"/missing"); !errors.Is(err, ErrFetch) {
		t.Fatalf("404: %v", err)
	}
	if _, err := p.AddURL(ctx, srv.URL+"/huge"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge: %v", err)
	}
	start := time.Now()
	if _, err := p.AddURL(ctx, srv.URL+"/slow"); err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("slow: %v after %v", err, time.Since(start))
	}
	for _, u := range []string{"file:///etc/passwd", "ftp://x/y", "not a url", "http://"} {
		if _, err := p.AddURL(ctx, u); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", u, err)
		}
	}
	if len(p.Lists()) != 1 {
		t.Fatalf("%d lists", len(p.Lists()))
	}
}

func TestAddTooLarge(t *testing.T) {
	p, _ := Open(Config{Dir: t.TempDir(), MaxSize: 1 << 20})
	big := &repeatReader{line: "# comment line\n", n: 1<<20 + 100}
	if _, err := p.Add(context.Background(), "big", big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big list: %v", err)
	}
	if len(p.Lists()) != 0 {
		t.Fatal("a refused list was kept")
	}
}

type repeatReader struct {
	line string
	n    int
}

func (r *repeatReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, os.ErrClosed
	}
	k := 0
	for k < len(b) && r.n > 0 {
		c := copy(b[k:], r.line)
		k += c
		r.n -= c
	}
	return k, nil
}
