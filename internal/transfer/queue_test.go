package transfer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/testutil"
)

// Get reports each peer once it ends: the liars not ok, the honest ok.
func TestOnPeerReport(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	data := testutil.RandBytes(64 * testChunk)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f, srcs, ais := swarm(t, src, 2)
	srcs[0].set(func(s *memSource) { s.lie = func(cid.Cid) bool { return true } })
	c := newClient(t, f, nil)
	var mu sync.Mutex
	got := map[peer.ID][]bool{}
	c.OnPeerReport(func(p peer.ID, ok bool) {
		mu.Lock()
		got[p] = append(got[p], ok)
		mu.Unlock()
	})
	if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f"), Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if r := got[ais[0].ID]; len(r) != 1 || r[0] {
		t.Errorf("liar reported %v, want one not-ok", r)
	}
	if r := got[ais[1].ID]; len(r) != 1 || !r[0] {
		t.Errorf("honest peer reported %v, want one ok", r)
	}
}

// A queued download runs to done; pausing, resuming and cancelling obey
// the states; a second download to a busy output is refused.
func TestQueueStates(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	data := testutil.RandBytes(32 * testChunk)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	q, err := NewQueue(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	qctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- q.Serve(qctx) }()
	defer func() { stop(); <-served }()

	if _, err := q.Pause("nope"); !errors.Is(err, ErrNoDownload) {
		t.Fatalf("pause of an unknown download: %v", err)
	}
	d, err := q.Add(fm.ID(), "", "song.bin")
	if err != nil || d.State != StateRunning || d.Output != filepath.Join(q.Dir(), "song.bin") {
		t.Fatalf("add: %+v %v", d, err)
	}
	var last Download
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if last = q.List()[len(q.List())-1]; last.State == StateDone {
			break
		}
	}
	if last.State != StateDone {
		t.Fatalf("download %+v", last)
	}
	if got, _ := os.ReadFile(last.Output); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	if p, err := q.File(last.ID); err != nil || p != last.Output {
		t.Fatalf("file: %q %v", p, err)
	}
	if _, err := q.Pause(last.ID); !errors.Is(err, ErrDownloadState) {
		t.Fatalf("pause of a done download: %v", err)
	}
	if _, err := q.Resume(last.ID); !errors.Is(err, ErrDownloadState) {
		t.Fatalf("resume of a done download: %v", err)
	}
	if _, err := q.Cancel(last.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(last.Output); err != nil {
		t.Fatalf("cancelling a done download removed its file: %v", err)
	}
	if _, err := q.File(last.ID); !errors.Is(err, ErrNoDownload) {
		t.Fatalf("file of a cancelled download: %v", err)
	}
}

// A download with no provider keeps running until paused; a paused one
// holds its output against a second download, resumes, and cancels.
func TestQueuePauseResumeCancel(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	fm := src.addFile(testutil.RandBytes(4*testChunk), testChunk)
	c := newClient(t, &staticFinder{}, nil) // nobody has it
	q, err := NewQueue(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	qctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- q.Serve(qctx) }()
	defer func() { stop(); <-served }()

	d, err := q.Add(fm.ID(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if d, err = q.Pause(d.ID); err != nil || d.State != StatePaused {
		t.Fatalf("pause: %+v %v", d, err)
	}
	if _, err := q.Pause(d.ID); !errors.Is(err, ErrDownloadState) {
		t.Fatalf("second pause: %v", err)
	}
	if _, err := q.Add(fm.ID(), d.Output, ""); !errors.Is(err, ErrInProgress) {
		t.Fatalf("a second download to a paused one's output: %v", err)
	}
	if _, err := q.File(d.ID); !errors.Is(err, ErrDownloadState) {
		t.Fatalf("file of a paused download: %v", err)
	}
	if d, err = q.Resume(d.ID); err != nil || d.State != StateRunning {
		t.Fatalf("resume: %+v %v", d, err)
	}
	if d, err = q.Cancel(d.ID); err != nil || d.State != StateCancelled {
		t.Fatalf("cancel: %+v %v", d, err)
	}
	if len(q.List()) != 0 {
		t.Fatalf("cancelled download still listed: %+v", q.List())
	}
}

// A resumed download starts from what the paused run verified: its
// progress never shows less than it had (it showed 0% while the new run
// looked at the chunks on disk), and its sources are the new run's.
func TestQueueResumeKeepsProgress(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	data := testutil.RandBytes(64 * testChunk)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f, srcs, _ := swarm(t, src, 1)
	// A slow provider: 30 ms a chunk.
	srcs[0].set(func(m *memSource) { m.onChunk = func(cid.Cid) { time.Sleep(30 * time.Millisecond) } })
	c := newClient(t, f, nil)
	q, err := NewQueue(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	qctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- q.Serve(qctx) }()
	defer func() { stop(); <-served }()

	d, err := q.Add(fm.ID(), "", "film.bin")
	if err != nil {
		t.Fatal(err)
	}
	get := func() Download {
		for _, x := range q.List() {
			if x.ID == d.ID {
				return x
			}
		}
		t.Fatal("download gone")
		return Download{}
	}
	testutil.Eventually(t, 20*time.Second, "some chunks verified", func() bool { return get().Done >= 4*testChunk })
	if d, err = q.Pause(d.ID); err != nil {
		t.Fatal(err)
	}
	// The paused run's last report counts every chunk it verified (it
	// ends within moments).
	time.Sleep(500 * time.Millisecond)
	paused := get()
	if paused.State != StatePaused || paused.Done < 4*testChunk || paused.Done >= int64(len(data)) {
		t.Fatalf("paused: %+v", paused)
	}
	if d, err = q.Resume(d.ID); err != nil || d.Done != paused.Done || d.Sources != 0 || d.Rate != 0 {
		t.Fatalf("resume: %+v %v", d, err)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		x := get()
		if x.Done < paused.Done || (x.State == StateRunning && x.Total != int64(len(data))) {
			t.Fatalf("after resume: %+v, paused at %d", x, paused.Done)
		}
	}
	testutil.Eventually(t, 30*time.Second, "the whole file", func() bool {
		x := get()
		return x.State == StateDone && x.Done == int64(len(data))
	})
}
