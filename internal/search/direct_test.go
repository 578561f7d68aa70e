package search

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/testutil"
)

// A peer that has shared a file but announced none of its keywords yet is
// found by a connected peer, which asks it directly; with direct asks off,
// it is not.
func TestDirectAskFindsUnannounced(t *testing.T) {
	for _, direct := range []int{0, -1} {
		tn := newTestNet(t, 3, func(i int, c *Config) {
			c.DirectPeers = direct
			if i == 1 {
				c.NoAnnounce = true
			}
		})
		p := tn.peers[1]
		if err := tn.peers[0].h.Connect(context.Background(), peer.AddrInfo{ID: p.h.ID(), Addrs: p.h.Addrs()}); err != nil {
			t.Fatal(err)
		}
		p.cat.add(testEntry(t, "Aurora Borealis Timelapse.mp4", 5000))
		p.svc.Refresh()
		testutil.Eventually(t, 10*time.Second, "the file indexed", func() bool {
			got := 0
			_ = p.svc.Search(context.Background(), "aurora", Options{LocalOnly: true}, func(Result) { got++ })
			return got > 0
		})
		got, err := collect(t, tn.peers[0].svc, "aurora borealis", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if found := len(got) == 1; found != (direct == 0) {
			t.Fatalf("DirectPeers %d: got %v", direct, got)
		}
	}
}

// Every file's longest keywords are announced before any other keyword,
// the most shared first.
func TestOrderKeywords(t *testing.T) {
	got := orderKeywords([][]string{
		{"beatles", "hey", "jude"},
		{"copyright"},
		{"copyright"},
		{"changelog", "debian"},
		{"hey", "there"},
	})
	want := []string{"copyright", "hey", "beatles", "changelog", "debian", "jude", "there"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// With the default limits, one person's UI searching as they type (a query
// every 100 ms for 6 s, faster than the web app sends them) is never
// refused by a provider, while a flood from one peer is throttled.
func TestTypingNotThrottledFloodIs(t *testing.T) {
	tn := newTestNet(t, 2, nil)
	tn.peers[1].cat.add(testEntry(t, "typing test.mp3", 1000))
	tn.peers[1].svc.Refresh()
	waitIndexed(t, tn.peers[1], "typing")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ask := func() error {
		_, _, err := tn.peers[0].svc.ask(ctx, tn.peers[1].h.ID(), "typing", "", 10)
		return err
	}
	for i := range 60 {
		if err := ask(); err != nil {
			t.Fatalf("query %d while typing: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(4 * time.Second) // the burst refills
	// A flood: what the provider answers is bounded by the burst (40) plus
	// the rate (10/s) over the time the flood took, however long a loaded
	// machine makes it take.
	throttled := 0
	start := time.Now()
	for range 200 {
		if err := ask(); err != nil {
			throttled++
		}
	}
	answered, allowed := 200-throttled, 40+int(10*time.Since(start).Seconds())+1
	if answered > allowed || throttled == 0 {
		t.Fatalf("a flood of 200 queries in %v: %d answered (at most %d allowed), %d throttled",
			time.Since(start), answered, allowed, throttled)
	}
}

// A name of no routable word ("1.7.0.txt": digits and an extension) is
// found on a connected peer by direct asks; with them off, such a query is
// refused as a bad query, as there is nothing to look up in the DHT.
func TestUnroutableNameAskedDirectly(t *testing.T) {
	for _, direct := range []int{0, -1} {
		tn := newTestNet(t, 2, func(i int, c *Config) { c.DirectPeers = direct })
		p := tn.peers[1]
		if err := tn.peers[0].h.Connect(context.Background(), peer.AddrInfo{ID: p.h.ID(), Addrs: p.h.Addrs()}); err != nil {
			t.Fatal(err)
		}
		p.cat.add(testEntry(t, "1.7.0.txt", 5000))
		p.cat.add(testEntry(t, "1.8.0.txt", 5000))
		p.svc.Refresh()
		testutil.Eventually(t, 10*time.Second, "the file indexed", func() bool {
			got := 0
			_ = p.svc.Search(context.Background(), "1.7.0.txt", Options{LocalOnly: true}, func(Result) { got++ })
			return got > 0
		})
		got, err := collect(t, tn.peers[0].svc, "1.7.0.txt", Options{})
		if direct < 0 {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("direct asks off: got %v, %v; want ErrBadQuery", got, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range got {
			names = append(names, r.Name)
		}
		if len(names) != 1 || names[0] != "1.7.0.txt" {
			t.Fatalf("got %v, want 1.7.0.txt alone", names)
		}
	}
}
