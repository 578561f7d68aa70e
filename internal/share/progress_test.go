package share

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Indexing reports the files reached while a share is being indexed, and
// nothing once it is done.
func TestIndexingProgress(t *testing.T) {
	root := t.TempDir()
	for i := range 20 {
		os.WriteFile(filepath.Join(root, fmt.Sprintf("f%02d", i)), make([]byte, 1000), 0o644)
	}
	// Hold the indexing after the 10th file until the test has looked.
	release := make(chan struct{})
	var files atomic.Int64
	s := newService(t, filepath.Join(t.TempDir(), "db"), func(c *Config) { c.Workers = 1 })
	s.onFile = func() {
		if files.Add(1) == 10 {
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Add(context.Background(), root)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	var p IndexProgress
	for {
		var ok bool
		if p, ok = s.Indexing(); ok && p.Files >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress reported: %+v", p)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if p.Path != root || p.Files != 10 || p.Bytes != 10*1000 || p.Started.IsZero() {
		t.Fatalf("progress %+v", p)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Indexing(); ok {
		t.Fatal("indexing still reported after Add returned")
	}
}
