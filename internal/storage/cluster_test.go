package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

type member struct {
	h   host.Host
	s   *Service
	dir string
}

// cluster starts n storage services on loopback hosts, all connected,
// each offering offer bytes (0: none).
func cluster(t *testing.T, n int, offer int64) []*member {
	t.Helper()
	ctx := context.Background()
	ms := make([]*member, n)
	for i := range ms {
		h, err := p2p.NewLoopbackHost(nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		db, err := store.Open(filepath.Join(dir, "db.sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(ctx, Config{Host: h, DB: db, Dir: filepath.Join(dir, "storage"), CheckEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		if offer > 0 {
			if err := s.SetOffer(ctx, Offer{Bytes: offer}); err != nil {
				t.Fatal(err)
			}
		}
		ms[i] = &member{h: h, s: s, dir: dir}
		t.Cleanup(func() { s.Close(); h.Close(); db.Close() })
	}
	for i, a := range ms {
		for _, b := range ms[i+1:] {
			if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ms
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPutGetOnDistinctPeers(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 7, 64<<20)
	owner := ms[0]
	ctx := ctxT(t)
	plain := testutil.RandBytes(300_000)
	ref, err := owner.s.Put(ctx, plain, PutOptions{K: 3, N: 5})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, h := range ref.Holders {
		if h == "" || h == owner.h.ID().String() || seen[h] {
			t.Fatalf("holders %v: not distinct other peers", ref.Holders)
		}
		seen[h] = true
	}
	// Stop two holders: any three shares still rebuild the object.
	stopped := 0
	for _, m := range ms[1:] {
		if seen[m.h.ID().String()] && stopped < 2 {
			m.h.Close()
			stopped++
		}
	}
	// A reader with only the ref (another node) gets it back.
	got, err := ms[6].s.Get(ctx, ref)
	if !seen[ms[6].h.ID().String()] && (err != nil || !bytes.Equal(got, plain)) {
		t.Fatalf("get by another node: %v", err)
	}
	got, err = owner.s.Get(ctx, ref)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("get with two holders gone: %v", err)
	}
}

func TestNotEnoughPeers(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 4, 64<<20)
	_, err := ms[0].s.Put(ctxT(t), []byte("x"), PutOptions{K: 2, N: 5})
	if !errors.Is(err, ErrNotEnoughPeers) {
		t.Fatalf("5 shares on 3 peers: %v", err)
	}
}

func TestQuotaAndOffer(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 3, 0)
	ctx := ctxT(t)
	if _, err := ms[0].s.Put(ctx, []byte("x"), PutOptions{K: 1, N: 2}); !errors.Is(err, ErrNotEnoughPeers) {
		t.Fatalf("no offers: %v", err)
	}
	// Offers of 8 KiB, 4 KiB per client: one share of a small object fits,
	// a second does not.
	for _, m := range ms[1:] {
		m.s.SetOffer(ctx, Offer{Bytes: 8 << 10, PerClient: 4500})
	}
	if _, err := ms[0].s.Put(ctx, []byte("x"), PutOptions{K: 1, N: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[0].s.Put(ctx, []byte("y"), PutOptions{K: 1, N: 2}); !errors.Is(err, ErrNotEnoughPeers) {
		t.Fatalf("over the per-client bound: %v", err)
	}
	st, _ := ms[1].s.Status(ctx)
	if st.Used == 0 || len(st.Clients) != 1 || st.Clients[0].Peer != ms[0].h.ID().String() {
		t.Fatalf("status %+v", st)
	}
}

func TestAlteredShareDetectedAndRepaired(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 6, 64<<20)
	owner := ms[0]
	ctx := ctxT(t)
	plain := testutil.RandBytes(100_000)
	ref, err := owner.s.Put(ctx, plain, PutOptions{K: 2, N: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Alter share 1 on its holder's disk.
	var victim *member
	for _, m := range ms {
		if m.h.ID().String() == ref.Holders[1] {
			victim = m
		}
	}
	p := victim.s.held.path(ref.Shares[1])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0x55
	}
	os.WriteFile(p, b, 0o600)
	// The holder no longer serves it.
	if _, err := owner.s.getShare(ctx, victim.h.ID(), ref.Shares[1], ref.ShareSize()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("altered share served: %v", err)
	}
	h, err := owner.s.Check(ctx, ref.ObjectID())
	if err != nil {
		t.Fatal(err)
	}
	if h.Repaired != 1 || h.Healthy != 4 || h.Repairs != 1 {
		t.Fatalf("check: %+v", h)
	}
	own, _, _ := owner.s.owned(ctx, ref.ObjectID())
	if own.Holders[1] == victim.h.ID().String() {
		t.Fatalf("repaired share placed on the peer that altered it")
	}
	h, _ = owner.s.Check(ctx, ref.ObjectID())
	if h.Healthy != 4 || h.Repaired != 0 {
		t.Fatalf("after repair: %+v", h)
	}
	got, err := owner.s.Get(ctx, ref)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("get after repair: %v", err)
	}
}

func TestDeleteNeedsClientOrSecret(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 4, 64<<20)
	ctx := ctxT(t)
	secret := []byte("publisher secret")
	ref, err := ms[0].s.Put(ctx, []byte("doc"), PutOptions{K: 1, N: 2, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	// Another peer without the secret cannot delete.
	other := ms[3]
	if other.h.ID().String() == ref.Holders[0] || other.h.ID().String() == ref.Holders[1] {
		other = nil
		for _, m := range ms[1:] {
			if m.h.ID().String() != ref.Holders[0] && m.h.ID().String() != ref.Holders[1] {
				other = m
			}
		}
	}
	if n, err := other.s.Delete(ctx, ref, nil); n != 0 || !errors.Is(err, ErrRefused) {
		t.Fatalf("delete by a stranger: %d, %v", n, err)
	}
	if n, err := other.s.Delete(ctx, ref, []byte("wrong")); n != 0 || err == nil {
		t.Fatalf("delete with a wrong secret: %d, %v", n, err)
	}
	if _, err := ms[0].s.Get(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n, err := other.s.Delete(ctx, ref, secret); n != 2 || err != nil {
		t.Fatalf("delete with the secret: %d, %v", n, err)
	}
	if _, err := other.s.Get(ctx, ref); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestHostilePuts(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 2, 64<<20)
	ctx := ctxT(t)
	c, srv := ms[0].s, ms[1].h.ID()
	data := testutil.RandBytes(5000)
	// A share that does not match its id is refused and not kept.
	var wrong ShareID
	if _, err := c.putShare(ctx, srv, wrong, data, time.Hour, [32]byte{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("mismatched share: %v", err)
	}
	// A share declared larger than MaxShareSize is refused before any byte.
	st, _, err := c.roundTrip(ctx, srv, request{Op: opPut, ID: HashShare(data), Size: MaxShareSize + 1})
	if !errors.Is(err, ErrRefused) {
		if st != nil {
			st.Close()
		}
		t.Fatalf("oversized put: %v", err)
	}
	if files := heldFiles(filepath.Join(ms[1].dir, "storage", "shares")); len(files) != 0 {
		t.Fatalf("files kept: %v", files)
	}
	// A stranger cannot renew or delete another client's share.
	id := HashShare(data)
	if _, err := c.putShare(ctx, srv, id, data, time.Hour, [32]byte{}); err != nil {
		t.Fatal(err)
	}
	third := cluster(t, 1, 0)[0]
	third.h.Connect(ctx, peer.AddrInfo{ID: srv, Addrs: ms[1].h.Addrs()})
	if err := third.s.deleteShare(ctx, srv, id, [32]byte{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("stranger delete: %v", err)
	}
	// Anyone with the id may challenge and fetch it.
	if err := third.s.challenge(ctx, srv, id, len(data), []uint32{0}); err != nil {
		t.Fatalf("challenge: %v", err)
	}
}

func TestRestartReconciles(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := ctxT(t)
	if err := db.Migrate(ctx, "storage", migrations); err != nil {
		t.Fatal(err)
	}
	h, err := openHeld(ctx, db, filepath.Join(dir, "shares"))
	if err != nil {
		t.Fatal(err)
	}
	h.setOffer(ctx, Offer{Bytes: 1 << 20})
	data := []byte("share bytes")
	id := HashShare(data)
	if err := h.commit(ctx, id, "client", data, time.Now().Add(time.Hour).Unix(), [32]byte{}, 0); err != nil {
		t.Fatal(err)
	}
	// A kill -9 left a temporary file and a share file without a row.
	os.WriteFile(filepath.Join(dir, "shares", ".tmp-123"), []byte("half"), 0o600)
	orphan := HashShare([]byte("orphan"))
	os.MkdirAll(filepath.Dir(h.path(orphan)), 0o700)
	os.WriteFile(h.path(orphan), []byte("orphan"), 0o600)
	h2, err := openHeld(ctx, db, filepath.Join(dir, "shares"))
	if err != nil {
		t.Fatal(err)
	}
	if files := heldFiles(filepath.Join(dir, "shares")); len(files) != 1 {
		t.Fatalf("after reopen: %v", files)
	}
	if _, used := h2.offer(); used != int64(len(data)) {
		t.Fatalf("used %d", used)
	}
	if b, err := h2.read(ctx, id); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read: %v", err)
	}
	// Expired leases are dropped with their files.
	if n, err := h2.expire(ctx, time.Now().Add(2*time.Hour)); n != 1 || err != nil {
		t.Fatalf("expire: %d %v", n, err)
	}
	if files := heldFiles(filepath.Join(dir, "shares")); len(files) != 0 {
		t.Fatalf("after expiry: %v", files)
	}
}

// TestCheckAllRepairsLostPeer: one holder goes away; CheckAll (objects in
// parallel) rebuilds every share it held onto other peers, reports the
// repair traffic (at least k shares fetched per rebuilt share's object,
// the rebuilt bytes placed), and every object reads back.
func TestCheckAllRepairsLostPeer(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 9, 64<<20)
	owner := ms[0]
	ctx := ctxT(t)
	var refs []Ref
	var plains [][]byte
	for range 12 {
		p := testutil.RandBytes(50_000)
		ref, err := owner.s.Put(ctx, p, PutOptions{K: 2, N: 4})
		if err != nil {
			t.Fatal(err)
		}
		refs, plains = append(refs, ref), append(plains, p)
	}
	var lost *member // the first object's first holder
	for _, m := range ms {
		if m.h.ID().String() == refs[0].Holders[0] {
			lost = m
		}
	}
	lostShares, lostObjects := 0, 0
	for _, r := range refs {
		n := 0
		for _, h := range r.Holders {
			if h == lost.h.ID().String() {
				n++
			}
		}
		lostShares += n
		if n > 0 {
			lostObjects++
		}
	}
	lost.h.Close()
	rep, err := owner.s.CheckAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(refs[0].ShareSize())
	if rep.Objects != 12 || rep.Repaired != lostShares || rep.Failing != 0 || rep.Healthy != 12 {
		t.Fatalf("report %+v, want %d shares repaired", rep, lostShares)
	}
	if rep.RepairOut != int64(lostShares)*size || rep.RepairIn < int64(2*lostObjects)*size {
		t.Fatalf("repair traffic in %d out %d, want out %d and in ≥ %d", rep.RepairIn, rep.RepairOut, int64(lostShares)*size, int64(2*lostObjects)*size)
	}
	for i, r := range refs {
		own, _, _ := owner.s.owned(ctx, r.ObjectID())
		for _, h := range own.Holders {
			if h == lost.h.ID().String() {
				t.Fatalf("object %d still placed on the lost peer", i)
			}
		}
		got, err := owner.s.Get(ctx, own)
		if err != nil || !bytes.Equal(got, plains[i]) {
			t.Fatalf("object %d after repair: %v", i, err)
		}
	}
}
