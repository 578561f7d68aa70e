//go:build linux

package hostile

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/test/harness"
)

// blockProtocol is the daemon's manifest and chunk protocol
// (transfer.ProtocolID), spelled out as a hostile peer would.
const blockProtocol = "/peerpath/block/1.0.0"

// provider is a hostile (or merely scripted) peer serving manifests and
// chunks over the block protocol from a map. Chunk answers wait while gate
// is closed, so a test can hold a download in flight.
type provider struct {
	mu       sync.Mutex
	blocks   map[string][]byte
	gate     chan struct{} // receive before each chunk answer; nil: no wait
	requests map[string]int
}

func newProvider(h host.Host) *provider {
	p := &provider{blocks: map[string][]byte{}, requests: map[string]int{}}
	h.SetStreamHandler(blockProtocol, p.serve)
	return p
}

func (p *provider) put(id cid.Cid, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocks[id.KeyString()] = data
}

// addFile adds a file's manifest and chunks and returns its id.
func (p *provider) addFile(data []byte) (cid.Cid, *content.FileManifest) {
	m := content.HashBytes(data, content.MinChunkSize)
	for i, c := range m.Chunks {
		off, n := m.ChunkRange(i)
		p.put(c, data[off:off+n])
	}
	p.put(m.ID(), m.Encode())
	return m.ID(), m
}

func (p *provider) addDir(m *content.DirManifest) cid.Cid {
	p.put(m.ID(), m.Encode())
	return m.ID()
}

func (p *provider) count(id cid.Cid) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[id.KeyString()]
}

func (p *provider) serve(st network.Stream) {
	defer st.Close()
	for {
		st.SetReadDeadline(time.Now().Add(30 * time.Second))
		var hdr [2]byte
		if _, err := io.ReadFull(st, hdr[:]); err != nil {
			return
		}
		raw := make([]byte, hdr[1])
		if _, err := io.ReadFull(st, raw); err != nil {
			return
		}
		id, err := cid.Cast(raw)
		if err != nil {
			st.Reset()
			return
		}
		p.mu.Lock()
		data, ok := p.blocks[id.KeyString()]
		p.requests[id.KeyString()]++
		gate := p.gate
		p.mu.Unlock()
		if hdr[0] == 2 && gate != nil {
			select {
			case <-gate:
			case <-time.After(30 * time.Second):
				st.Reset()
				return
			}
		}
		resp := make([]byte, 5, 5+len(data))
		if !ok {
			resp[0] = 1 // not found
			data = []byte("not here")
		}
		binary.BigEndian.PutUint32(resp[1:], uint32(len(data)))
		st.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := st.Write(append(resp, data...)); err != nil {
			return
		}
	}
}

// get runs `get` on d through its API (what `peerpath get` does) with a
// short timeout.
func get(t *testing.T, d *harness.Daemon, id cid.Cid, out string, events func(api.GetEvent)) (api.GetResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return d.Client.Get(ctx, api.GetRequest{CID: id.String(), Output: out, Timeout: "20s"}, events)
}

// A hostile peer serves a manifest bomb: 13 folder manifests of a few dozen
// bytes, each naming the one below twice, expand to 2^13 = 8,192 files. The
// daemon refuses the download with a clear error, before it writes anything.
func TestManifestBombRefused(t *testing.T) {
	d := harness.Start(t)
	h, _ := newPeer(t, d)
	p := newProvider(h)
	leaf, _ := p.addFile([]byte("boom"))
	id := leaf
	var size int64 = 4
	for range 13 {
		m := &content.DirManifest{Entries: []content.DirEntry{{Name: "a", ID: id, Size: size}, {Name: "b", ID: id, Size: size}}}
		id = p.addDir(m)
		size *= 2
	}
	out := filepath.Join(t.TempDir(), "bomb")
	_, err := get(t, d, id, out, nil)
	if err == nil {
		t.Fatal("the daemon downloaded a manifest bomb")
	}
	t.Logf("refused: %v", err)
	if msg := err.Error(); !strings.Contains(msg, "reused") && !strings.Contains(msg, "too many") {
		t.Errorf("error does not say why: %v", err)
	}
	if _, serr := os.Lstat(out); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("the daemon wrote %s before refusing (stat: %v)", out, serr)
	}
	if n := p.count(leaf); n > 0 {
		t.Errorf("the daemon asked for the bomb's file %d times before refusing", n)
	}

	// A wide bomb without reuse stays within the entry cap only if it is
	// small: 3 distinct folders of 40,000 distinct empty-file entries each
	// is 120,000 entries, over the per-download cap.
	empty := content.HashBytes(nil, 0)
	p.put(empty.ID(), empty.Encode())
	var parts []content.DirEntry
	for k := range 3 {
		m := &content.DirManifest{}
		for i := range 40_000 {
			m.Entries = append(m.Entries, content.DirEntry{Name: fmt.Sprintf("%d-%06d", k, i), ID: empty.ID()})
		}
		parts = append(parts, content.DirEntry{Name: fmt.Sprintf("d%d", k), ID: p.addDir(m)})
	}
	wide := p.addDir(&content.DirManifest{Entries: parts})
	out = filepath.Join(t.TempDir(), "wide")
	_, err = get(t, d, wide, out, nil)
	if err == nil || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("a folder of 120,000 entries: got %v, want a refusal naming the cap", err)
	}
	if _, serr := os.Lstat(out); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("the daemon wrote %s before refusing (stat: %v)", out, serr)
	}
}

// The daemon shows the file count and size of a folder before it writes
// anything ("plan" event), and the download then completes.
func TestGetShowsPlanFirst(t *testing.T) {
	d := harness.Start(t)
	h, _ := newPeer(t, d)
	p := newProvider(h)
	f1, m1 := p.addFile(bytes.Repeat([]byte("x"), 1000))
	f2, m2 := p.addFile(bytes.Repeat([]byte("y"), 3000))
	sub := p.addDir(&content.DirManifest{Entries: []content.DirEntry{{Name: "two", ID: f2, Size: m2.Size}}})
	root := p.addDir(&content.DirManifest{Entries: []content.DirEntry{{Name: "one", ID: f1, Size: m1.Size}, {Name: "sub", ID: sub, Size: m2.Size}}})
	out := filepath.Join(t.TempDir(), "tree")
	var first *api.GetEvent
	res, err := get(t, d, root, out, func(ev api.GetEvent) {
		// The daemon calls back with the plan before it creates anything
		// (internal/transfer's TestPlanLimits checks that order); here the
		// plan must come first on the stream.
		if first == nil {
			first = &ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if first == nil || first.Type != "plan" || first.Files != 2 || first.Total != 4000 {
		t.Fatalf("first event %+v, want a plan of 2 files and 4000 bytes", first)
	}
	if res.Files != 2 || res.Size != 4000 {
		t.Fatalf("result %+v", res)
	}
	// `peerpath get` prints the plan before the download's result.
	stdout, stderr, code := harness.CLI(t, "get", root.String(), "-o", filepath.Join(t.TempDir(), "cli"), "--home", d.Home)
	if code != 0 || !strings.Contains(stderr, "2 files, ") {
		t.Fatalf("get exited %d; stderr %q, stdout %q: want the file count and size first", code, stderr, stdout)
	}
	// A refused tree is refused by the CLI with its reason.
	_, stderr, code = harness.CLI(t, "get", bombOf(p).String(), "-o", filepath.Join(t.TempDir(), "bomb"), "--home", d.Home, "--timeout", "20s")
	if code == 0 || !strings.Contains(stderr, "manifest bomb") {
		t.Fatalf("get of a bomb exited %d: %q", code, stderr)
	}
}

// bombOf adds to p 13 folder manifests, each naming the one below twice
// (2^13 files), and returns the top one's id.
func bombOf(p *provider) cid.Cid {
	leaf, _ := p.addFile([]byte("boom"))
	id := leaf
	var size int64 = 4
	for range 13 {
		id = p.addDir(&content.DirManifest{Entries: []content.DirEntry{{Name: "a", ID: id, Size: size}, {Name: "b", ID: id, Size: size}}})
		size *= 2
	}
	return id
}

// A file whose name is 255 bytes long (the limit of most file systems)
// downloads: the temporary .part name stays within the limit.
func TestLongNameDownloads(t *testing.T) {
	d := harness.Start(t)
	h, _ := newPeer(t, d)
	p := newProvider(h)
	data := make([]byte, 200_000)
	rand.Read(data)
	for _, n := range []int{251, 255} {
		name := strings.Repeat("é", (n-1)/2) + strings.Repeat("n", n-2*((n-1)/2))
		if len(name) != n {
			t.Fatalf("name of %d bytes, want %d", len(name), n)
		}
		f, fm := p.addFile(data)
		root := p.addDir(&content.DirManifest{Entries: []content.DirEntry{{Name: name, ID: f, Size: fm.Size}}})
		out := filepath.Join(t.TempDir(), "long")
		if _, err := get(t, d, root, out, nil); err != nil {
			t.Fatalf("name of %d bytes: %v", n, err)
		}
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("name of %d bytes: read back %d bytes, %v", n, len(got), err)
		}
		// A single file under such a name too.
		out = filepath.Join(t.TempDir(), name)
		if _, err := get(t, d, f, out, nil); err != nil {
			t.Fatalf("file named with %d bytes: %v", n, err)
		}
	}
}

// Pausing and resuming a background download ten times in a row works
// every time, and the finished download carries no stale error.
func TestPauseResumeTenTimes(t *testing.T) {
	d := harness.Start(t)
	h, _ := newPeer(t, d)
	p := newProvider(h)
	data := make([]byte, 4*content.MinChunkSize*8)
	rand.Read(data)
	gate := make(chan struct{})
	p.gate = gate
	f, _ := p.addFile(data)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "slow.bin")
	dl, err := d.Client.AddDownload(ctx, api.DownloadRequest{CID: f.String(), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	state := func() api.Download {
		all, err := d.Client.Downloads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			if x.ID == dl.ID {
				return x
			}
		}
		t.Fatalf("download %s gone", dl.ID)
		return api.Download{}
	}
	for i := range 10 {
		// Let one chunk through, so the run is really under way.
		select {
		case gate <- struct{}{}:
		case <-ctx.Done():
			t.Fatalf("round %d: the download never asked for a chunk: %+v", i, state())
		}
		if _, err := d.Client.PauseDownload(ctx, dl.ID); err != nil {
			t.Fatalf("round %d: pause: %v", i, err)
		}
		if _, err := d.Client.ResumeDownload(ctx, dl.ID); err != nil {
			t.Fatalf("round %d: resume: %v", i, err)
		}
		if s := state(); s.State != "running" || s.Error != "" {
			t.Fatalf("round %d: after resume the download is %s (%q)", i, s.State, s.Error)
		}
	}
	close(gate)
	harness.Eventually(t, time.Minute, func() error {
		s := state()
		switch s.State {
		case "done":
			return nil
		case "running":
			return fmt.Errorf("still running: %d/%d", s.Done, s.Total)
		}
		t.Fatalf("download ended %s: %q", s.State, s.Error)
		return nil
	})
	if s := state(); s.Error != "" {
		t.Fatalf("finished download shows an error: %q", s.Error)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
}

// fetchBlock asks peer p for one manifest (op 1) or chunk (op 2) over the
// block protocol and returns the response's status and body.
func fetchBlock(ctx context.Context, h host.Host, p peer.ID, op byte, id cid.Cid) (byte, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, p, blockProtocol)
	if err != nil {
		return 0, nil, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	raw := id.Bytes()
	if _, err := st.Write(append([]byte{op, byte(len(raw))}, raw...)); err != nil {
		return 0, nil, err
	}
	var hdr [5]byte
	if _, err := io.ReadFull(st, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > 64<<20 {
		return 0, nil, fmt.Errorf("response of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(st, body); err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

// A symlink inside a shared folder is re-pointed, again and again, between
// a file inside the folder and the daemon's identity.key while the daemon
// indexes the folder. A hostile peer then asks for every file of the share
// over the block protocol, many times: no byte of identity.key is ever
// served, and no manifest of it is ever offered.
func TestSymlinkRaceNeverServesOutside(t *testing.T) {
	d := harness.Start(t)
	h, _ := newPeer(t, d)
	pid := mustID(t, d)
	key, err := os.ReadFile(filepath.Join(d.Home, "identity.key"))
	if err != nil || len(key) == 0 {
		t.Fatalf("identity.key: %v", err)
	}
	keyFile := content.HashBytes(key, 0).ID()
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Many small files widen the time between reading the folder and
	// hashing each file, where the old code followed the link again.
	for i := range 300 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.txt", i)), []byte(fmt.Sprintf("file %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, bytes.Repeat([]byte("g"), len(key)), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("good.txt", link); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := d.Client.AddShare(ctx, dir); err != nil {
		t.Fatal(err)
	}

	// Re-point link between good.txt and identity.key, atomically (rename
	// over it), until the test ends.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tmp := filepath.Join(filepath.Dir(dir), "tmp-link")
		targets := []string{"good.txt", filepath.Join(d.Home, "identity.key")}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.Remove(tmp)
			if err := os.Symlink(targets[i%2], tmp); err != nil {
				t.Error(err)
				return
			}
			if err := os.Rename(tmp, link); err != nil {
				t.Error(err)
				return
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	leaked := func(b []byte) bool {
		return len(b) > 0 && (bytes.Contains(b, key) || bytes.Contains(key, b) && len(b) >= 16)
	}
	listed, servedLink := false, 0
	for round := range 30 {
		// A new modification time makes the daemon hash the link's target
		// again rather than reuse what it indexed before.
		mt := time.Now().Add(time.Duration(round+1) * time.Second)
		if err := os.Chtimes(good, mt, mt); err != nil {
			t.Fatal(err)
		}
		sh, err := d.Client.AddShare(ctx, dir)
		if err != nil {
			t.Fatalf("round %d: re-index: %v", round, err)
		}
		root, err := cid.Decode(sh.CID)
		if err != nil {
			t.Fatal(err)
		}
		status, body, err := fetchBlock(ctx, h, pid, 1, root)
		if err != nil || status != 0 {
			continue // re-indexed meanwhile: next round
		}
		dm, err := content.DecodeDirManifest(body)
		if err != nil {
			t.Fatalf("round %d: root manifest: %v", round, err)
		}
		for _, e := range dm.Entries {
			if e.Name != "link" && e.Name != "good.txt" {
				continue
			}
			if e.ID.Equals(keyFile) && !listed {
				listed = true
				t.Errorf("round %d: the share lists identity.key's manifest as %q", round, e.Name)
			}
			status, body, err := fetchBlock(ctx, h, pid, 1, e.ID)
			if err != nil || status != 0 {
				continue
			}
			if leaked(body) {
				t.Fatalf("round %d: a manifest holding identity.key's bytes was served", round)
			}
			fm, err := content.DecodeFileManifest(body)
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, e.Name, err)
			}
			for _, c := range fm.Chunks {
				// Ask many times: the link keeps moving.
				for range 20 {
					status, body, err := fetchBlock(ctx, h, pid, 2, c)
					if err == nil && status == 0 && leaked(body) {
						t.Fatalf("round %d: the daemon served identity.key's bytes as %q", round, e.Name)
					}
					if err == nil && status == 0 && e.Name == "link" {
						servedLink++
					}
				}
			}
		}
	}
	// The attack ran: the link was indexed and served (its honest target)
	// while it kept moving.
	if servedLink == 0 {
		t.Fatal("the link was never served: the test proved nothing")
	}
	t.Logf("the link's honest bytes were served %d times", servedLink)
}
