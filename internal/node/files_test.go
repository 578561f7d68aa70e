package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/transfer"
)

// lyingSource serves every other chunk with its bytes flipped, and extra
// manifests it was told to serve.
type lyingSource struct {
	transfer.BlockSource
	honest bool // serve chunks as they are
	lies   atomic.Int64
	extra  map[cid.Cid][]byte
}

func (l *lyingSource) Manifest(ctx context.Context, id cid.Cid) ([]byte, error) {
	if b, ok := l.extra[id]; ok {
		return b, nil
	}
	return l.BlockSource.Manifest(ctx, id)
}

func (l *lyingSource) Chunk(ctx context.Context, id cid.Cid, buf []byte) ([]byte, error) {
	b, err := l.BlockSource.Chunk(ctx, id, buf)
	if err != nil {
		return nil, err
	}
	if l.honest {
		return b, nil
	}
	out := append([]byte(nil), b...)
	out[len(out)/2] ^= 0xff
	l.lies.Add(1)
	return out, nil
}

type running struct {
	*Node
	client *api.Client
	stop   func()
}

func startNode(t *testing.T, ctx context.Context, bootstrap []string, wrap func(transfer.BlockSource) transfer.BlockSource) *running {
	t.Helper()
	cfg := testConfig()
	cfg.Bootstrap = bootstrap
	home := config.Home(t.TempDir())
	n, err := New(ctx, Options{Home: home, Config: cfg, wrapSource: wrap})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Serve(rctx) }()
	r := &running{Node: n, client: api.NewClient(n.APIURL(), n.Token())}
	var stop func()
	var once sync.Once
	r.stop = func() { once.Do(stop) }
	stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(8 * time.Second):
			t.Error("node did not stop")
		}
		r.client.CloseIdle()
	}
	t.Cleanup(r.stop)
	return r
}

// A provider that sends chunks which don't match their hash is detected,
// dropped and scored down; the download completes from an honest provider,
// byte-identical. A folder manifest naming "../" is refused and writes
// nothing outside the output folder.
func TestLyingProviderRoutedAround(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	data := make([]byte, 9<<20+77)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(src, data, 0o644)

	// A hostile folder manifest: one valid entry, then its name patched to
	// "../evil" (same length), and an id that honestly hashes those bytes.
	fm := content.HashBytes([]byte("x"), content.DefaultChunkSize)
	enc := (&content.DirManifest{Entries: []content.DirEntry{{Name: "a.xevil", ID: fm.ID(), Size: 1}}}).Encode()
	hostile := bytes.Replace(enc, []byte("a.xevil"), []byte("../evil"), 1)
	hostileID := content.NewID(content.CodecDir, hostile)

	liar := &lyingSource{}
	// A separate peer serves the hostile manifest: the liar gets banned by
	// the first download.
	evil := &lyingSource{honest: true, extra: map[cid.Cid][]byte{hostileID: hostile}}
	honest := startNode(t, ctx, nil, nil)
	boot := honest.P2P().Addrs()
	lying := startNode(t, ctx, boot, func(s transfer.BlockSource) transfer.BlockSource {
		liar.BlockSource = s
		return liar
	})
	getter := startNode(t, ctx, boot, nil)
	evilNode := startNode(t, ctx, boot, func(s transfer.BlockSource) transfer.BlockSource {
		evil.BlockSource = s
		return evil
	})

	sh1, err := honest.client.AddShare(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	sh2, err := lying.client.AddShare(ctx, src)
	if err != nil || sh2.CID != sh1.CID {
		t.Fatalf("same bytes gave %s and %s (%v)", sh1.CID, sh2.CID, err)
	}
	// Make sure the getter is connected to both.
	for _, n := range []*running{honest, lying, evilNode} {
		if err := getter.P2P().Connect(ctx, n.P2P().Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}

	out := filepath.Join(t.TempDir(), "got.bin")
	res, err := getter.client.Get(ctx, api.GetRequest{CID: sh1.CID, Output: out}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	lid := lying.ID()
	if liar.lies.Load() == 0 {
		t.Fatal("the lying provider was never asked; the test proves nothing")
	}
	if s := getter.transfer.PeerScore(lid); s >= 0 {
		t.Fatalf("liar served %d bad chunks but scores %d", liar.lies.Load(), s)
	}
	t.Logf("liar sent %d bad chunks; result %+v; liar score %d", liar.lies.Load(), res, getter.transfer.PeerScore(lid))

	// The hostile manifest is refused.
	dir := t.TempDir()
	_, err = getter.client.Get(ctx, api.GetRequest{CID: hostileID.String(), Output: filepath.Join(dir, "out"), Timeout: "5s"}, nil)
	if err == nil {
		t.Fatal("hostile folder manifest accepted")
	}
	var ae *api.Error
	if !errors.As(err, &ae) || !strings.Contains(strings.ToLower(ae.Message), "name") {
		t.Fatalf("hostile manifest: unclear error %v", err)
	}
	t.Logf("hostile manifest refused: %v", err)
	if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
		t.Fatal("a file escaped the output folder")
	}
}
