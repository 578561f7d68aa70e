package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
)

// fuzzTree builds folder manifests from data: parts separated by 0xff, one
// folder each (at most 8), the last the root. Each byte b of a part is an
// entry: b%4 == 0 a file of b>>2 bytes, 1 or 2 a folder made from an
// earlier part ((b>>2) mod its index), 3 the empty folder.
func fuzzTree(data []byte) (root *content.DirManifest, rootID cid.Cid, byID map[string]*content.DirManifest) {
	byID = make(map[string]*content.DirManifest)
	empty := &content.DirManifest{}
	byID[empty.ID().KeyString()] = empty
	file := content.HashBytes([]byte("f"), 0).ID()
	var made []*content.DirManifest
	for k, part := range bytes.SplitN(data, []byte{0xff}, 8) {
		m := &content.DirManifest{}
		for i, b := range part[:min(len(part), 32)] {
			e := content.DirEntry{Name: fmt.Sprintf("e%02d", i)}
			switch {
			case b%4 == 0:
				e.ID, e.Size = file, int64(b>>2)
			case b%4 != 3 && k > 0:
				sub := made[int(b>>2)%k]
				e.ID, e.Size = sub.ID(), sub.Size()
			default:
				e.ID = empty.ID()
			}
			m.Entries = append(m.Entries, e)
		}
		made = append(made, m)
		byID[m.ID().KeyString()] = m
	}
	root = made[len(made)-1]
	return root, root.ID(), byID
}

// FuzzPlanTree plans arbitrary folder trees (with shared sub-folders, the
// shape of a manifest bomb): it must never panic, fetch each manifest at
// most once, and either refuse with a documented error or return a plan
// within the limits whose expanded tree holds at most twice the entries of
// the distinct folder manifests (see reuseSlack).
func FuzzPlanTree(f *testing.F) {
	f.Add([]byte{0, 4, 8})
	f.Add([]byte{0, 0, 0xff, 1, 1, 0xff, 1, 1, 0xff, 1, 1, 0xff, 1, 1})
	f.Add([]byte{3, 3, 0xff, 1, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxEntries, maxSize = 60, 2000
		root, id, byID := fuzzTree(data)
		var mu sync.Mutex // fetch runs in the prefetcher's workers too
		fetched := map[string]int{}
		var twice []cid.Cid
		fetch := func(ctx context.Context, id cid.Cid) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			fetched[id.KeyString()]++
			if fetched[id.KeyString()] > 1 && len(byID[id.KeyString()].Entries) > 0 {
				twice = append(twice, id)
			}
			return byID[id.KeyString()], nil
		}
		tree, plan, err := planTree(context.Background(), root, id, maxEntries, maxSize, fetch, nil)
		if len(twice) > 0 {
			t.Fatalf("manifests fetched twice: %v", twice)
		}
		if err != nil {
			if !errors.Is(err, ErrTooBig) && !errors.Is(err, ErrBadContent) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if plan.Files+plan.Dirs > maxEntries || plan.Size > maxSize {
			t.Fatalf("plan %+v over the limits", plan)
		}
		var files, dirs int
		var size int64
		seen := map[*planDir]bool{}
		var expanded, distinct int
		var walk func(pd *planDir)
		walk = func(pd *planDir) {
			dirs++
			expanded += len(pd.m.Entries)
			if !seen[pd] {
				distinct += len(pd.m.Entries)
			}
			seen[pd] = true
			for _, e := range pd.m.Entries {
				if sub := pd.subs[e.Name]; sub != nil {
					walk(sub)
				} else {
					files++
					size += e.Size
				}
			}
		}
		walk(tree)
		if expanded > 2*distinct {
			t.Fatalf("the tree expands %d distinct entries to %d", distinct, expanded)
		}
		if files != plan.Files || dirs != plan.Dirs || size != plan.Size {
			t.Fatalf("plan %+v, tree has %d files, %d folders, %d bytes", plan, files, dirs, size)
		}
	})
}
