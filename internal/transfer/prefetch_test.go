package transfer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
)

// wideTree builds folder manifests in memory: a root of width folders,
// each of width folders, each holding one file. It returns the root and a
// fetch over the manifests.
func wideTree(width int) (*content.DirManifest, cid.Cid, map[cid.Cid]any) {
	fm := content.HashBytes([]byte("leaf"), testChunk)
	all := make(map[cid.Cid]any)
	var top []content.DirEntry
	for i := range width {
		var mid []content.DirEntry
		for j := range width {
			leaf := &content.DirManifest{Entries: []content.DirEntry{{Name: fmt.Sprintf("f%d-%d", i, j), ID: fm.ID(), Size: fm.Size}}}
			all[leaf.ID()] = leaf
			mid = append(mid, content.DirEntry{Name: fmt.Sprintf("d%d", j), ID: leaf.ID(), Size: fm.Size})
		}
		m := &content.DirManifest{Entries: mid}
		all[m.ID()] = m
		top = append(top, content.DirEntry{Name: fmt.Sprintf("d%d", i), ID: m.ID(), Size: int64(width) * fm.Size})
	}
	root := &content.DirManifest{Entries: top}
	return root, root.ID(), all
}

// TestPlanPrefetch: the planner fetches folder manifests ahead of its
// walk, several at once, each once; a failed fetch ends the plan with its
// error and leaves no fetch running (goleak checks the workers).
func TestPlanPrefetch(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	root, id, all := wideTree(12)
	var mu sync.Mutex
	count := make(map[cid.Cid]int)
	var inFlight, most atomic.Int32
	fetch := func(ctx context.Context, id cid.Cid) (any, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		count[id]++
		mu.Unlock()
		select {
		case <-time.After(2 * time.Millisecond): // a round trip
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return all[id], nil
	}
	_, plan, err := planTree(ctx, root, id, 1<<20, 1<<40, fetch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Dirs != 1+12+144 || plan.Files != 144 {
		t.Fatalf("plan %+v", plan)
	}
	if len(count) != 12+144 {
		t.Fatalf("fetched %d distinct manifests, want %d", len(count), 12+144)
	}
	for id, n := range count {
		if n != 1 {
			t.Fatalf("%s fetched %d times", id, n)
		}
	}
	if m := most.Load(); m < 2 || m > planPrefetch+1 {
		t.Fatalf("at most %d fetches at once, want 2..%d", m, planPrefetch+1)
	}

	// A fetch that fails ends the plan with its error.
	boom := errors.New("boom")
	var calls atomic.Int32
	_, _, err = planTree(ctx, root, id, 1<<20, 1<<40, func(ctx context.Context, id cid.Cid) (any, error) {
		if calls.Add(1) == 20 {
			return nil, boom
		}
		return fetch(ctx, id)
	}, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the fetch's error", err)
	}
}
