package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/storage"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

// storeAdapter is the node's glue (internal/node/publish.go), again here
// so the package's tests run over the real storage layer.
type storeAdapter struct{ s *storage.Service }

func (a storeAdapter) Put(ctx context.Context, plain []byte, k, n int, secret []byte) (string, []peer.ID, error) {
	ref, err := a.s.Put(ctx, plain, storage.PutOptions{K: k, N: n, Secret: secret})
	if err != nil {
		return "", nil, err
	}
	var hs []peer.ID
	for _, h := range ref.Holders {
		if p, err := peer.Decode(h); err == nil {
			hs = append(hs, p)
		}
	}
	return ref.String(), hs, nil
}

func (a storeAdapter) Get(ctx context.Context, ref string) ([]byte, error) {
	r, err := storage.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	return a.s.Get(ctx, r)
}

func (a storeAdapter) Delete(ctx context.Context, ref string, secret []byte) (int, error) {
	r, err := storage.ParseRef(ref)
	if err != nil {
		return 0, err
	}
	return a.s.Delete(ctx, r, secret)
}

func (a storeAdapter) Offering(ctx context.Context) bool {
	st, err := a.s.Status(ctx)
	return err == nil && st.Offer.Bytes > 0
}

type member struct {
	h   host.Host
	st  *storage.Service
	p   *Service
	dir string
}

// cluster starts n nodes on loopback, all connected; the first offers
// nothing (the publisher), the others offer 64 MiB.
func cluster(t *testing.T, n int) []*member { return clusterB(t, n) }

func clusterB(t testing.TB, n int) []*member {
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
		st, err := storage.New(ctx, storage.Config{Host: h, DB: db, Dir: filepath.Join(dir, "storage"), CheckEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := st.SetOffer(ctx, storage.Offer{Bytes: 64 << 20}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := New(ctx, Config{Host: h, DB: db, Store: storeAdapter{st}})
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = &member{h: h, st: st, p: p, dir: dir}
		t.Cleanup(func() { p.Close(); st.Close(); h.Close(); db.Close() })
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

// holding returns the members whose storage folder holds a share.
func holding(ms []*member) []*member {
	var out []*member
	for _, m := range ms {
		n := 0
		filepath.WalkDir(filepath.Join(m.dir, "storage", "shares"), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		if n > 0 {
			out = append(out, m)
		}
	}
	return out
}

// A document is fetched by URL alone, byte-identical, by a node that
// holds none of it, with its publisher and n−k storing peers gone.
func TestFetchWithPublisherAndHoldersGone(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 7)
	ctx := ctxT(t)
	plain := testutil.RandBytes(200_000)
	pub, err := ms[0].p.Publish(ctx, "report.pdf", plain, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pub.URL, URLPrefix) || pub.K != 2 || pub.N != 5 || pub.Holders != 5 || pub.Seq != 1 ||
		!strings.HasPrefix(pub.Secret, SecretPrefix) || strings.Contains(pub.URL, pub.Secret[len(SecretPrefix):]) {
		t.Fatalf("published %+v", pub)
	}
	holders := holding(ms[1:])
	if len(holders) != 5 {
		t.Fatalf("%d peers hold shares, want 5", len(holders))
	}
	// Stop the publisher and three of the five holders.
	ms[0].h.Close()
	for _, m := range holders[:3] {
		m.h.Close()
	}
	reader := ms[6]
	if holding([]*member{reader}) != nil {
		reader = nil
		for _, m := range ms[1:] {
			if len(holding([]*member{m})) == 0 {
				reader = m
			}
		}
	}
	if reader == nil {
		t.Fatal("no member without a share to read from")
	}
	doc, got, err := reader.p.Fetch(ctx, pub.URL)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("fetch with publisher and 3 of 5 holders gone: %v", err)
	}
	if doc.CID != pub.CID || doc.Name != "report.pdf" || doc.Size != int64(len(plain)) {
		t.Fatalf("document %+v", doc)
	}
}

// A storing peer that alters its share does not break retrieval: the
// share fails its hash and another one is used.
func TestFetchAlteredShare(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 5)
	ctx := ctxT(t)
	plain := testutil.RandBytes(50_000)
	pub, err := ms[0].p.Publish(ctx, "a.txt", plain, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range holding(ms[1:])[:2] {
		filepath.WalkDir(filepath.Join(m.dir, "storage", "shares"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				b[len(b)/3] ^= 1
				os.WriteFile(p, b, 0o600)
			}
			return nil
		})
	}
	_, got, err := ms[0].p.Fetch(ctx, pub.URL)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("fetch with two of four shares altered: %v", err)
	}
}

// Update and delete work with the secret (this home's, or the secret
// string from another home) and fail without it.
func TestUpdateDeleteNeedTheSecret(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 6)
	ctx := ctxT(t)
	v1 := []byte(strings.Repeat("version one ", 1000))
	pub, err := ms[0].p.Publish(ctx, "doc.txt", v1, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	other := ms[5]
	// Another home, no secret: refused before anything is stored.
	if _, err := other.p.Update(ctx, pub.URL, "doc.txt", []byte("forged"), 0, 0, ""); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("update without the secret: %v", err)
	}
	if _, err := other.p.Delete(ctx, pub.URL, ""); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("delete without the secret: %v", err)
	}
	// Another document's secret.
	pub2, err := ms[0].p.Publish(ctx, "other.txt", []byte("x"), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.p.Update(ctx, pub.URL, "doc.txt", []byte("forged"), 0, 0, pub2.Secret); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("update with another document's secret: %v", err)
	}
	// The publisher updates: same URL, new content, old shares gone.
	v2 := []byte(strings.Repeat("version two ", 1500))
	up, err := ms[0].p.Update(ctx, pub.URL, "doc.txt", v2, 0, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if up.URL != pub.URL || up.Seq != 2 || up.K != 2 || up.N != 4 || up.OldShares != 4 || up.CID == pub.CID {
		t.Fatalf("update: %+v", up)
	}
	if _, got, err := other.p.Fetch(ctx, pub.URL); err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("fetch after update: %v", err)
	}
	// Another home with the secret string updates too.
	v3 := []byte("version three")
	if up, err = other.p.Update(ctx, pub.URL, "doc.txt", v3, 1, 3, pub.Secret); err != nil || up.Seq != 3 {
		t.Fatalf("update with the secret from another home: %+v %v", up, err)
	}
	if _, got, err := ms[1].p.Fetch(ctx, pub.URL); err != nil || !bytes.Equal(got, v3) {
		t.Fatalf("fetch after the second update: %q %v", got, err)
	}
	// The publisher deletes (its home's seq is behind; it learns the
	// current one from the keepers).
	del, err := ms[0].p.Delete(ctx, pub.URL, "")
	if err != nil || del.Holders == 0 || del.Shares != 3 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, _, err := other.p.Fetch(ctx, pub.URL); !errors.Is(err, ErrDeleted) {
		t.Fatalf("fetch after delete: %v", err)
	}
	if _, err := ms[0].p.Update(ctx, pub.URL, "doc.txt", v1, 0, 0, ""); !errors.Is(err, ErrDeleted) {
		t.Fatalf("update after delete: %v", err)
	}
	docs, err := ms[0].p.List(ctx)
	if err != nil || len(docs) != 2 || !docs[1].Deleted && !docs[0].Deleted {
		t.Fatalf("list: %+v %v", docs, err)
	}
}

// Storing peers refuse a forged record, a replayed older version and
// anything after a delete, with an error that says why; a node that
// offers no storage keeps no new record.
func TestKeeperRules(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 4)
	ctx := ctxT(t)
	pub, err := ms[0].p.Publish(ctx, "d", []byte("one"), 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := ParseURL(pub.URL)
	keeper := holding(ms[1:])[0]
	found := ms[0].p.locate(ctx, u, nil)
	v1, ok := latest(found)
	if !ok || v1.Seq != 1 {
		t.Fatalf("locate: %d records", len(found))
	}
	send := func(r *record) error {
		resp, err := ms[0].p.call(ctx, keeper.h.ID(), request{Op: reqStore, Record: r.encode()})
		if err != nil {
			return err
		}
		if resp.Status != statusOK {
			return errors.New(resp.Msg)
		}
		return nil
	}
	// A forged update: a record for this locator signed by another key.
	seed, _ := ParseSecret(FormatSecret(bytes.Repeat([]byte{9}, 32)))
	_, otherKey := keyPair(seed)
	forged := *v1
	forged.Seq = 99
	forged.sign(otherKey)
	if err := send(&forged); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("forged update: %v", err)
	}
	// The same with a garbled signature, and a forged delete.
	forged.Op, forged.Sealed = opDelete, nil
	forged.Sig[0] ^= 1
	if err := send(&forged); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("forged delete: %v", err)
	}
	if _, err := ms[0].p.Update(ctx, pub.URL, "d", []byte("two"), 0, 0, ""); err != nil {
		t.Fatal(err)
	}
	// A replay of version 1 (rollback) is refused.
	if err := send(v1); err == nil || !strings.Contains(err.Error(), "stale version") {
		t.Fatalf("replayed version 1: %v", err)
	}
	if _, got, err := ms[3].p.Fetch(ctx, pub.URL); err != nil || string(got) != "two" {
		t.Fatalf("fetch after the attacks: %q %v", got, err)
	}
	// A node with no offer keeps no new record.
	_, priv := keyPair(bytes.Repeat([]byte{7}, 32))
	loc, _ := keyPair(bytes.Repeat([]byte{7}, 32))
	var key [32]byte
	r, err := ms[1].p.newRecord(opPublish, loc, priv, &key, 1, &body{Ref: "x", K: 1, N: 2})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ms[1].p.call(ctx, ms[0].h.ID(), request{Op: reqStore, Record: r.encode()})
	if err != nil || resp.Status != statusRefused || !strings.Contains(resp.Msg, "offers no storage") {
		t.Fatalf("record to a node without an offer: %+v %v", resp, err)
	}
	// After a delete, nothing is kept, not even a newer version.
	if _, err := ms[0].p.Delete(ctx, pub.URL, ""); err != nil {
		t.Fatal(err)
	}
	d, _, _ := ms[0].p.loadDoc(ctx, u.Locator)
	_, dpriv := keyPair(d.seed)
	again, _ := ms[0].p.newRecord(opPublish, u.Locator, dpriv, &u.Key, 100, &body{Ref: "x", K: 1, N: 2})
	if err := send(again); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("record after a delete: %v", err)
	}
}

// Records expire after their lease and grace; the publisher renews its
// own before.
func TestExpireAndRenew(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 3)
	ctx := ctxT(t)
	pub, err := ms[0].p.Publish(ctx, "d", []byte("keep me"), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Renewal a lease later: seq 2, a later expiry, kept by both.
	if err := ms[0].p.renewAll(ctx, time.Now().Add(DefaultLease)); err != nil {
		t.Fatal(err)
	}
	u, _ := ParseURL(pub.URL)
	found := ms[0].p.locate(ctx, u, nil)
	if len(found) != 2 || found[0].rec.Seq != 2 || found[1].rec.Seq != 2 {
		t.Fatalf("after renewal: %d keepers", len(found))
	}
	for _, m := range ms[1:] {
		if n, _ := m.p.expire(ctx, time.Now().Add(DefaultLease)); n != 0 {
			t.Fatalf("a renewed record expired")
		}
		if n, _ := m.p.expire(ctx, time.Now().Add(2*DefaultLease+DefaultGrace)); n != 1 {
			t.Fatalf("expired %d records after lease and grace", n)
		}
	}
	if _, _, err := ms[0].p.Fetch(ctx, pub.URL); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch after expiry: %v", err)
	}
}

type denyList map[string]bool

func (d denyList) Check(id cid.Cid) error {
	if d[id.String()] {
		return fmt.Errorf("denied: %s", id)
	}
	return nil
}

// A node's content policy refuses to publish, and to fetch, a document
// whose content id it denies.
func TestPolicyRefusesAtTheEdges(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 4)
	ctx := ctxT(t)
	plain := []byte("a document some nodes refuse")
	pub, err := ms[0].p.Publish(ctx, "d", plain, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	deny := denyList{pub.CID: true}
	ms[3].p.cfg.Policy = deny
	if _, _, err := ms[3].p.Fetch(ctx, pub.URL); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("fetch of a denied id: %v", err)
	}
	if _, err := ms[3].p.Publish(ctx, "d", plain, 1, 2); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("publish of a denied id: %v", err)
	}
	if _, got, err := ms[0].p.Fetch(ctx, pub.URL); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("a node without the list: %v", err)
	}
}

// A publish killed after its shares were placed but before its record
// went out leaves a pending row; the next start drops it and the shares,
// and leaves alone a publish of the running Service.
func TestUnfinishedPublishDropped(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 3)
	ctx := ctxT(t)
	seed := bytes.Repeat([]byte{4}, 32)
	ref, _, err := storeAdapter{ms[0].st}.Put(ctx, []byte("half published"), 1, 2, storageSecret(seed))
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := keyPair(seed)
	other, _ := keyPair(bytes.Repeat([]byte{5}, 32))
	insert := func(l Locator, created int64) {
		if _, err := ms[0].p.cfg.DB.ExecContext(ctx, `INSERT INTO publish_docs (loc, seed, url, seq, expires, ref, cid, name, size, k, n, holders, created)
			VALUES (?, ?, 'u', 0, 0, ?, '', 'd', 1, 1, 2, '[]', ?)`, l[:], seed, ref, created); err != nil {
			t.Fatal(err)
		}
	}
	insert(loc, ms[0].p.started-10)
	insert(other, ms[0].p.started) // in flight in this run
	if len(holding(ms[1:])) != 2 {
		t.Fatal("shares not placed")
	}
	if err := ms[0].p.cleanPending(ctx); err != nil {
		t.Fatal(err)
	}
	if h := holding(ms[1:]); len(h) != 0 {
		t.Fatalf("%d holders still keep the unfinished publish's shares", len(h))
	}
	var n int
	ms[0].p.cfg.DB.QueryRowContext(ctx, `SELECT count(*) FROM publish_docs`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d rows left, want the in-flight one", n)
	}
	if docs, _ := ms[0].p.List(ctx); len(docs) != 0 {
		t.Fatalf("pending rows listed: %+v", docs)
	}
}

// A name from a publisher never leaves the folder it is saved in, and a
// save without an output never replaces a file.
func TestSaveNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"report.pdf": "report.pdf", "../../etc/passwd": "passwd", `..\..\boot.ini`: "boot.ini", "a/..": "CID",
		"": "CID", ".": "CID", "x\x00y": "CID", "dir/": "CID", strings.Repeat("a", 300): "CID",
	} {
		if got := SafeName(name, "CID"); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", name, got, want)
		}
	}
	ms := cluster(t, 3)
	ctx := ctxT(t)
	pub, err := ms[0].p.Publish(ctx, "../../escape.txt", []byte("x"), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, err := ms[2].p.Save(ctx, pub.URL, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ms[2].p.Save(ctx, pub.URL, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Path != filepath.Join(dir, "escape.txt") || b.Path != filepath.Join(dir, "escape (2).txt") {
		t.Fatalf("saved as %s and %s", a.Path, b.Path)
	}
	if _, err := ms[2].p.Save(ctx, pub.URL, "relative/out", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("relative output: %v", err)
	}
}
