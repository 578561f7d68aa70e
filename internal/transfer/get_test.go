package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

const testChunk = 64 << 10

// swarm starts n servers sharing everything src holds and returns a finder
// listing them.
func swarm(t *testing.T, src *memSource, n int) (*staticFinder, []*memSource, []peer.AddrInfo) {
	t.Helper()
	f := &staticFinder{}
	var srcs []*memSource
	var ais []peer.AddrInfo
	for range n {
		s := newMemSource()
		s.copyFrom(src)
		_, h := newServer(t, s, 0)
		srcs = append(srcs, s)
		ais = append(ais, addrInfo(h))
	}
	f.set(ais...)
	return f, srcs, ais
}

func TestGetFile(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(map[int]string{1: "one source", 3: "three sources"}[n], func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			data := testutil.RandBytes(3<<20 + 12345)
			src := newMemSource()
			fm := src.addFile(data, testChunk)
			f, srcs, _ := swarm(t, src, n)
			for _, s := range srcs {
				// A little service time, so every source is up before
				// the others could finish alone.
				s.set(func(s *memSource) { s.onChunk = func(cid.Cid) { time.Sleep(2 * time.Millisecond) } })
			}
			seeder := &recordingSeeder{}
			c := newClient(t, f, func(c *Config) { c.Seeder = seeder })
			out := filepath.Join(t.TempDir(), "file.bin")
			var calls atomic.Int64
			res, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 10 * time.Second,
				Progress: func(p Progress) {
					calls.Add(1)
					if p.Done > p.Total {
						t.Errorf("progress %d > total %d", p.Done, p.Total)
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("downloaded file differs")
			}
			if res.Size != int64(len(data)) || res.Chunks != len(fm.Chunks) || res.Files != 1 || res.Resumed != 0 {
				t.Fatalf("result %+v", res)
			}
			for _, suffix := range []string{".part", ".part.state"} {
				if _, err := os.Stat(out + suffix); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s left behind: %v", suffix, err)
				}
			}
			if len(seeder.calls) != 1 || seeder.calls[0] != out+" "+fm.ID().String() {
				t.Fatalf("seeder calls %v", seeder.calls)
			}
			if calls.Load() == 0 {
				t.Fatal("progress never reported")
			}
			// Every source took part when there are several.
			var served int64
			for _, s := range srcs {
				if s.served.Load() == 0 && n > 1 {
					t.Errorf("a source served nothing")
				}
				served += s.served.Load()
			}
			if served < int64(len(fm.Chunks)) {
				t.Fatalf("served %d chunks for %d", served, len(fm.Chunks))
			}
			// A second Get of the same content is a no-op.
			res2, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 5 * time.Second})
			if err != nil || res2.Chunks != 0 || res2.Resumed != int64(len(data)) {
				t.Fatalf("second get: %+v, %v", res2, err)
			}
		})
	}
}

func TestGetFolder(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(map[int]string{1: "one source", 3: "three sources"}[n], func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			tr := tree{
				"a.bin": testutil.RandBytes(300 << 10),
				"empty": []byte{},
				"small": []byte("hello"),
				"sub":   tree{"b.bin": testutil.RandBytes(100<<10 + 7), "deeper": tree{"c": testutil.RandBytes(testChunk)}},
				"void":  tree{},
				"é 名前":  testutil.RandBytes(10),
			}
			many := tree{}
			for i := range 30 {
				many[fmt.Sprintf("f%02d", i)] = testutil.RandBytes(1000 + i*3000)
			}
			tr["many"] = many
			src := newMemSource()
			id, total := src.addTree(tr, testChunk)
			f, _, _ := swarm(t, src, n)
			seeder := &recordingSeeder{}
			c := newClient(t, f, func(c *Config) { c.Seeder = seeder })
			out := filepath.Join(t.TempDir(), "folder")
			res, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			assertTree(t, out, tr)
			if !res.Dir || res.Files != 36 || res.Size != total || res.Fetched > total+total/2 {
				t.Fatalf("result %+v (total %d)", res, total)
			}
			if len(seeder.calls) != 1 || seeder.calls[0] != out+" "+id.String() {
				t.Fatalf("seeder calls %v", seeder.calls)
			}
			// The small files' manifests go along, so the seeder need not
			// hash them again; each matches the file written.
			small := 0 // files of one chunk go in batches
			var count func(tree)
			count = func(tr tree) {
				for _, v := range tr {
					switch v := v.(type) {
					case tree:
						count(v)
					case []byte:
						if len(v) <= testChunk {
							small++
						}
					}
				}
			}
			count(tr)
			if seeder.files != small || len(seeder.bad) > 0 {
				t.Fatalf("seeder got %d file manifests (want %d), %d not matching the disk: %v", seeder.files, small, len(seeder.bad), seeder.bad)
			}
		})
	}
}

// stateChunks reads the sidecar record of a download.
func stateChunks(t *testing.T, part string, id cid.Cid) map[int]bool {
	t.Helper()
	data, err := os.ReadFile(part + ".state")
	if err != nil {
		t.Fatal(err)
	}
	l := &fileLog{id: id}
	idx, _, ok := parseFileLog(data, l.header())
	if !ok {
		t.Fatal("state header does not match")
	}
	out := make(map[int]bool)
	for _, i := range idx {
		out[i] = true
	}
	return out
}

func TestResume(t *testing.T) {
	for _, useDB := range []bool{false, true} {
		name := "sidecar"
		if useDB {
			name = "database"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			data := testutil.RandBytes(64 * testChunk)
			src := newMemSource()
			fm := src.addFile(data, testChunk)
			f, srcs, _ := swarm(t, src, 1)
			var db *store.DB
			if useDB {
				var err error
				db, err = store.Open(filepath.Join(t.TempDir(), "node.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
			}
			c := newClient(t, f, func(c *Config) { c.DB = db })
			out := filepath.Join(t.TempDir(), "file.bin")

			// First run: cancelled after 20 chunks were served.
			ctx1, cancel1 := context.WithCancel(ctx)
			var served atomic.Int64
			srcs[0].set(func(s *memSource) {
				s.onChunk = func(cid.Cid) {
					if served.Add(1) == 20 {
						cancel1()
					}
				}
			})
			_, err := c.Get(ctx1, fm.ID(), GetOptions{Output: out, Timeout: 10 * time.Second})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("first run: %v", err)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("incomplete download renamed into place")
			}
			var have map[int]bool
			if useDB {
				have = make(map[int]bool)
				rows, err := db.Query(`SELECT idx FROM transfer_chunks`)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var i int
					rows.Scan(&i)
					have[i] = true
				}
				rows.Close()
			} else {
				have = stateChunks(t, out+".part", fm.ID())
			}
			if len(have) == 0 || len(have) >= len(fm.Chunks) {
				t.Fatalf("first run recorded %d of %d chunks", len(have), len(fm.Chunks))
			}

			// Second run: only the missing chunks are requested.
			srcs[0].set(func(s *memSource) { s.onChunk = nil })
			srcs[0].resetCounts()
			res, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, data) {
				t.Fatal("resumed file differs")
			}
			requested := 0
			for i, id := range fm.Chunks {
				n := srcs[0].requestCount(id)
				if have[i] && n > 0 {
					t.Errorf("chunk %d was recorded but requested again", i)
				}
				// The end game may ask a second source... or the same one
				// again for a chunk in flight too long (at most 2 copies).
				if !have[i] && (n < 1 || n > 2) {
					t.Errorf("missing chunk %d requested %d times", i, n)
				}
				requested += n
			}
			missing := len(fm.Chunks) - len(have)
			if requested < missing || requested > 2*missing || res.Chunks != missing ||
				res.Resumed != int64(len(have))*testChunk {
				t.Fatalf("requested %d, result %+v, had %d of %d", requested, res, len(have), len(fm.Chunks))
			}
			if useDB {
				var rows int
				db.QueryRow(`SELECT COUNT(*) FROM transfer_chunks`).Scan(&rows)
				if rows != 0 {
					t.Fatalf("%d records left after completion", rows)
				}
			}
		})
	}
}

// TestResumeCorruptPart: a recorded chunk whose bytes on disk were damaged is
// re-verified, found bad and fetched again.
func TestResumeCorruptPart(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	data := testutil.RandBytes(16 * testChunk)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f, srcs, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "file.bin")
	// Fake an earlier run that recorded every chunk, but damaged chunk 3.
	part := append([]byte(nil), data...)
	part[3*testChunk+10] ^= 1
	if err := os.WriteFile(out+".part", part, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openFileLog(out+".part.state", fm.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.load(ctx); err != nil {
		t.Fatal(err)
	}
	var all []int
	for i := range fm.Chunks {
		all = append(all, i)
	}
	l.record(ctx, all)
	l.f.WriteAt([]byte{1, 2, 3}, l.good) // a torn record
	l.close()

	res, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	if res.Chunks != 1 || srcs[0].requestCount(fm.Chunks[3]) != 1 || srcs[0].served.Load() != 1 {
		t.Fatalf("result %+v, served %d", res, srcs[0].served.Load())
	}
}

func TestLyingProvider(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	data := testutil.RandBytes(96 * testChunk)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f, srcs, ais := swarm(t, src, 3)
	// Source 0 lies about every chunk; source 1 about odd chunks.
	odd := make(map[cid.Cid]bool)
	for i, id := range fm.Chunks {
		if i%2 == 1 {
			odd[id] = true
		}
	}
	srcs[0].set(func(s *memSource) { s.lie = func(cid.Cid) bool { return true } })
	srcs[1].set(func(s *memSource) { s.lie = func(id cid.Cid) bool { return odd[id] } })
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "file.bin")
	res, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	if s := c.PeerScore(ais[0].ID); s > scoreBadChunk/2 {
		t.Errorf("liar score %d", s)
	}
	if s := c.PeerScore(ais[2].ID); s <= 0 {
		t.Errorf("honest score %d", s)
	}
	// The liar sent little more than its pipelines' worth before being
	// dropped (a third of the chunks, 32, if it had not been).
	if n := srcs[0].served.Load(); n > int64(2*streamsPerSource*pipelineDepth+4) {
		t.Errorf("liar served %d chunks after being caught", n)
	}
	if res.Peers == 0 || c.PeerScores()[ais[2].ID] <= 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestOnlyLiars(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	data := testutil.RandBytes(4 * testChunk)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f, srcs, _ := swarm(t, src, 1)
	srcs[0].set(func(s *memSource) { s.lie = func(cid.Cid) bool { return true } })
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "file.bin")
	_, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: time.Second})
	if !errors.Is(err, ErrNoProviders) {
		t.Fatalf("got %v", err)
	}
	// Nothing bad was written: every chunk of the part file is zero.
	part, _ := os.ReadFile(out + ".part")
	if len(part) != len(data) || !bytes.Equal(part, make([]byte, len(data))) {
		t.Fatal("bad bytes reached the part file")
	}
	if len(stateChunks(t, out+".part", fm.ID())) != 0 {
		t.Fatal("a bad chunk was recorded")
	}
}

func TestNoProvider(t *testing.T) {
	t.Run("none at all", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		f := &staticFinder{}
		c := newClient(t, f, nil)
		out := filepath.Join(t.TempDir(), "x")
		id := content.HashBytes([]byte("nobody has this"), 0).ID()
		start := time.Now()
		_, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 700 * time.Millisecond})
		if !errors.Is(err, ErrNoProviders) {
			t.Fatalf("got %v", err)
		}
		if el := time.Since(start); el < 700*time.Millisecond || el > 10*time.Second {
			t.Fatalf("gave up after %v", el)
		}
		if f.calls.Load() < 2 {
			t.Fatalf("finder asked %d times; want retries", f.calls.Load())
		}
	})
	t.Run("provider vanishes", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		data := testutil.RandBytes(32 * testChunk)
		src := newMemSource()
		fm := src.addFile(data, testChunk)
		f, srcs, _ := swarm(t, src, 1)
		var n atomic.Int64
		srcs[0].set(func(s *memSource) { s.notFound = func(cid.Cid) bool { return n.Add(1) > 10 } })
		c := newClient(t, f, nil)
		out := filepath.Join(t.TempDir(), "file.bin")
		_, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: time.Second})
		if !errors.Is(err, ErrNoProviders) {
			t.Fatalf("got %v", err)
		}
		have := stateChunks(t, out+".part", fm.ID())
		if len(have) == 0 || len(have) > 10 {
			t.Fatalf("recorded %d chunks, want 1..10 (10 served)", len(have))
		}
		part, _ := os.ReadFile(out + ".part")
		for i := range have {
			off, n := fm.ChunkRange(i)
			if !bytes.Equal(part[off:off+n], data[off:off+n]) {
				t.Fatalf("recorded chunk %d not on disk", i)
			}
		}
		// With the provider back, the download completes.
		srcs[0].set(func(s *memSource) { s.notFound = nil })
		if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, data) {
			t.Fatal("file differs")
		}
	})
}

func TestRateLimit(t *testing.T) {
	const limit = 1 << 20
	data := testutil.RandBytes(2 << 20)
	check := func(t *testing.T, el time.Duration) {
		t.Helper()
		rate := float64(len(data)) / el.Seconds()
		if rate > 1.5*limit {
			t.Fatalf("moved %d bytes in %v: %.0f B/s, limit %d", len(data), el, rate, limit)
		}
	}
	t.Run("download", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		src := newMemSource()
		fm := src.addFile(data, testChunk)
		f, _, _ := swarm(t, src, 2)
		c := newClient(t, f, func(c *Config) { c.MaxDownload = limit })
		start := time.Now()
		if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f")}); err != nil {
			t.Fatal(err)
		}
		check(t, time.Since(start))
	})
	t.Run("set at run time", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		src := newMemSource()
		fm := src.addFile(data, testChunk)
		f, _, _ := swarm(t, src, 2)
		c := newClient(t, f, nil)
		if err := c.SetLimits(-1, 0); err == nil {
			t.Fatal("negative limit accepted")
		}
		if err := c.SetLimits(7, limit); err != nil {
			t.Fatal(err)
		}
		if up, down := c.Limits(); up != 7 || down != limit {
			t.Fatalf("Limits() = %d, %d", up, down)
		}
		start := time.Now()
		if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f")}); err != nil {
			t.Fatal(err)
		}
		check(t, time.Since(start))
	})
	t.Run("upload", func(t *testing.T) {
		ctx := testCtx(t, 30*time.Second)
		src := newMemSource()
		fm := src.addFile(data, testChunk)
		_, h := newServer(t, src, limit)
		f := &staticFinder{}
		f.set(addrInfo(h))
		// Two clients at once share the server's upload limit, fairly:
		// neither finishes long before the other.
		type done struct {
			err error
			at  time.Duration
		}
		dones := make(chan done, 2)
		start := time.Now()
		for k := range 2 {
			c := newClient(t, f, nil)
			go func() {
				_, err := c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f"+string(rune('a'+k)))})
				dones <- done{err, time.Since(start)}
			}()
		}
		var at []time.Duration
		for range 2 {
			d := <-dones
			if d.err != nil {
				t.Fatal(d.err)
			}
			at = append(at, d.at)
		}
		el := time.Since(start)
		if rate := float64(2*len(data)) / el.Seconds(); rate > 1.5*limit {
			t.Fatalf("uploaded %.0f B/s, limit %d", rate, limit)
		}
		if at[0] < at[1]*6/10 {
			t.Fatalf("unfair share: one client done after %v, the other after %v", at[0], at[1])
		}
	})
}

func TestGetBadID(t *testing.T) {
	c := newClient(t, &staticFinder{}, nil)
	_, err := c.Get(testCtx(t, 5*time.Second), content.ChunkID([]byte("x")), GetOptions{Output: filepath.Join(t.TempDir(), "x")})
	if !errors.Is(err, ErrBadContent) {
		t.Fatalf("got %v", err)
	}
}

func TestOutputExists(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	fm := src.addFile(testutil.RandBytes(testChunk), testChunk)
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "f")
	os.WriteFile(out, []byte("mine"), 0o644)
	_, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 5 * time.Second})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "mine" {
		t.Fatal("existing file overwritten")
	}
}

// TestResumeFolder: a folder download cancelled midway completes on the next
// Get, without fetching again the files already complete.
func TestResumeFolder(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	tr := tree{}
	for i := range 12 {
		tr[fmt.Sprintf("f%02d", i)] = testutil.RandBytes(4 * testChunk)
	}
	src := newMemSource()
	id, _ := src.addTree(tr, testChunk)
	f, srcs, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "folder")
	ctx1, cancel1 := context.WithCancel(ctx)
	var served atomic.Int64
	srcs[0].set(func(s *memSource) {
		s.onChunk = func(cid.Cid) {
			if served.Add(1) == 20 {
				cancel1()
			}
		}
	})
	if _, err := c.Get(ctx1, id, GetOptions{Output: out, Timeout: 10 * time.Second}); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	srcs[0].set(func(s *memSource) { s.onChunk = nil })
	res, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	assertTree(t, out, tr)
	if res.Resumed == 0 || res.Chunks >= 48 || res.Chunks+int(res.Resumed/testChunk) != 48 {
		t.Fatalf("result %+v", res)
	}
}

// TestGetSameOutputTwice: a second Get to an output being written fails
// clearly instead of racing on the same part file.
func TestGetSameOutputTwice(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	data := testutil.RandBytes(16 * testChunk)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f, srcs, _ := swarm(t, src, 1)
	started := make(chan struct{})
	var once atomic.Bool
	srcs[0].set(func(s *memSource) {
		s.onChunk = func(cid.Cid) {
			if once.CompareAndSwap(false, true) {
				close(started)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "f")
	first := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 10 * time.Second})
		first <- err
	}()
	<-started
	if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 10 * time.Second}); !errors.Is(err, ErrInProgress) {
		t.Fatalf("second Get: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
}

func TestFetchManifestFromOnePeer(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	fm := src.addFile(testutil.RandBytes(3*testChunk+5), testChunk)
	f, _, ais := swarm(t, src, 1)
	c := newClient(t, f, nil)
	// Search asks peers it already talks to: they have addresses.
	c.cfg.Host.Peerstore().AddAddrs(ais[0].ID, ais[0].Addrs, time.Minute)
	raw, err := c.FetchManifest(ctx, ais[0].ID, fm.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, fm.Encode()) {
		t.Fatal("manifest bytes differ")
	}
	if _, err := c.FetchManifest(ctx, ais[0].ID, content.NewID(content.CodecFile, []byte("nope"))); err == nil {
		t.Fatal("unknown manifest: want an error")
	}
}

// FetchManifestAny falls back on the finder's providers when the peer asked
// first cannot answer, and says which peers it tried when nobody can.
func TestFetchManifestAnyFallsBack(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	fm := src.addFile(testutil.RandBytes(2*testChunk+9), testChunk)
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	gone := newClient(t, &staticFinder{}, nil).cfg.Host // a peer that serves nothing
	raw, err := c.FetchManifestAny(ctx, fm.ID(), gone.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, fm.Encode()) {
		t.Fatal("manifest bytes differ")
	}
	lonely := newClient(t, &staticFinder{}, nil)
	_, err = lonely.FetchManifestAny(ctx, fm.ID(), gone.ID())
	if err == nil || !strings.Contains(err.Error(), gone.ID().String()) {
		t.Fatalf("nobody has it: %v, want an error naming the peer tried", err)
	}
}
