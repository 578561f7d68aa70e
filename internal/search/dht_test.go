package search

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

// TestKadDHTAnnounceAndSearch runs the real path: Serve announces keywords
// with kad-dht's Provide, and a search on another peer finds them with
// FindProvidersAsync and asks the provider.
func TestKadDHTAnnounceAndSearch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mn := mocknet.New()
	defer mn.Close()
	const n = 6
	var svcs []*Service
	var cats []*memCatalog
	var wg sync.WaitGroup
	sctx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	var dhts []*dht.IpfsDHT
	for range n {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		d, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(p2p.DHTPrefix))
		if err != nil {
			t.Fatal(err)
		}
		dhts = append(dhts, d)
		db, err := store.Open(filepath.Join(t.TempDir(), "db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		cat := &memCatalog{}
		s, err := New(ctx, Config{Host: h, Routing: d, DB: db, Catalog: cat, Logger: quietLogger(), SyncInterval: 50 * time.Millisecond,
			DirectPeers: -1}) // routing through the DHT alone: direct asks have their own test
		if err != nil {
			t.Fatal(err)
		}
		svcs, cats = append(svcs, s), append(cats, cat)
	}
	defer func() {
		for _, d := range dhts {
			d.Close()
		}
	}()
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dhts {
		for deadline := time.Now().Add(10 * time.Second); d.RoutingTable().Size() < n-1; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("routing table has %d peers", d.RoutingTable().Size())
			}
		}
	}
	song := testEntry(t, "Sigur Rós - Hoppípolla.ogg", 9e6)
	cats[n-1].add(song)
	for _, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Serve(sctx)
		}()
	}
	for deadline := time.Now().Add(15 * time.Second); svcs[n-1].Announced() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("announced %d keywords", svcs[n-1].Announced())
		}
	}
	var st Stats
	got, err := collect(t, svcs[0], "sigur ros hoppipolla", Options{Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := got[song.CID]
	if !ok || len(r.Providers) != 1 || r.Providers[0] != dhts[n-1].Host().ID().String() {
		t.Fatalf("got %v (stats %+v)", got, st)
	}
	if st.DHTRequests == 0 || st.PeersAsked != 1 {
		t.Errorf("stats %+v", st)
	}
}
