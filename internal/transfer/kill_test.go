package transfer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/testutil"
)

// kill9Env holds "PEER_ADDR ID OUTPUT" when the test binary runs as the
// child of TestKill9Resume.
const kill9Env = "TRANSFER_KILL9_CHILD"

// kill9Child downloads as told by kill9Env until it completes or is killed.
func kill9Child() int {
	f := strings.Fields(os.Getenv(kill9Env))
	if len(f) != 3 {
		return 2
	}
	ai, err := peer.AddrInfoFromString(f[0])
	if err != nil {
		return 2
	}
	id, err := cid.Decode(f[1])
	if err != nil {
		return 2
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		return 2
	}
	defer h.Close()
	s, err := New(Config{Host: h, Finder: &staticFinder{peers: []peer.AddrInfo{*ai}}})
	if err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Get(ctx, id, GetOptions{Output: f[2]}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKill9Resume kills a downloading process with SIGKILL in the middle of
// its download, then resumes in this process: the recorded chunks are all
// on disk, only the others are fetched, and the file comes out identical.
func TestKill9Resume(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	data := testutil.RandBytes(96 * testChunk)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f, srcs, ais := swarm(t, src, 1)
	out := filepath.Join(t.TempDir(), "file.bin")

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s/p2p/%s %s %s", kill9Env, ais[0].Addrs[0], ais[0].ID, fm.ID(), out))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var served atomic.Int64
	var proc atomic.Pointer[os.Process]
	killed := make(chan struct{})
	srcs[0].set(func(s *memSource) {
		s.onChunk = func(cid.Cid) {
			time.Sleep(2 * time.Millisecond)
			if served.Add(1) == 60 {
				proc.Load().Kill()
				close(killed)
			}
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc.Store(cmd.Process)
	err := cmd.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("child ended before it was killed: %v\n%s", err, stderr.String())
	}
	srcs[0].set(func(s *memSource) { s.onChunk = nil })
	srcs[0].resetCounts()

	have := stateChunks(t, out+".part", fm.ID())
	if len(have) == 0 || len(have) >= len(fm.Chunks) {
		t.Fatalf("killed run recorded %d of %d chunks", len(have), len(fm.Chunks))
	}
	part, err := os.ReadFile(out + ".part")
	if err != nil {
		t.Fatal(err)
	}
	for i := range have {
		off, n := fm.ChunkRange(i)
		if !bytes.Equal(part[off:off+n], data[off:off+n]) {
			t.Fatalf("chunk %d recorded but not on disk", i)
		}
	}

	c := newClient(t, f, nil)
	res, err := c.Get(ctx, fm.ID(), GetOptions{Output: out, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
	for i, id := range fm.Chunks {
		if n := srcs[0].requestCount(id); have[i] && n > 0 {
			t.Errorf("recorded chunk %d fetched again", i)
		}
	}
	if res.Chunks != len(fm.Chunks)-len(have) {
		t.Fatalf("fetched %d chunks, %d were missing", res.Chunks, len(fm.Chunks)-len(have))
	}
}
