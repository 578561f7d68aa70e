package share

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// OnChange's function hears of every Add and Remove, and of nothing that
// failed.
func TestOnChange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := newService(t, filepath.Join(dir, "db"), nil)
	var calls atomic.Int32
	s.OnChange(func() { calls.Add(1) })
	p := filepath.Join(dir, "a.txt")
	writeFile(t, p, []byte("hello"))
	if _, err := s.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, filepath.Join(dir, "missing")); err == nil {
		t.Fatal("added a missing file")
	}
	if err := s.Remove(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, p); err == nil {
		t.Fatal("removed twice")
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	s.OnChange(nil)
	s.Add(ctx, p)
	if n := calls.Load(); n != 2 {
		t.Fatalf("called after OnChange(nil)")
	}
}
