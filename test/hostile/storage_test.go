//go:build linux

package hostile

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/storage"
	"github.com/peerpath/peerpath/test/harness"
)

// storageReq encodes a storage request by hand, as a hostile peer would.
func storageReq(op byte, id storage.ShareID, size uint32, nseg int) []byte {
	b := []byte{op}
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint32(b, size)
	b = binary.BigEndian.AppendUint32(b, 3600)
	b = append(b, make([]byte, 64)...) // auth, secret
	b = append(b, byte(nseg))
	for i := 0; i < nseg; i++ {
		b = binary.BigEndian.AppendUint32(b, 0)
	}
	return binary.BigEndian.AppendUint16(b, 0)
}

// storageCall sends one request and returns the first response's status
// byte (-1 when the stream was reset) and the open stream's further bytes
// through send.
func storageCall(t *testing.T, h host.Host, to peer.ID, req []byte, body []byte) (first, final int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, to, storage.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	if err := p2p.WriteMsg(st, req); err != nil {
		return -1, -1
	}
	resp, err := p2p.ReadMsg(st, 1024)
	if err != nil || len(resp) == 0 {
		return -1, -1
	}
	if resp[0] != 0 || body == nil {
		return int(resp[0]), -1
	}
	if err := p2p.WriteMsg(st, body); err != nil {
		return 0, -1
	}
	resp, err = p2p.ReadMsg(st, 1024)
	if err != nil || len(resp) == 0 {
		return 0, -1
	}
	return 0, int(resp[0])
}

func shareFiles(home string) int {
	n := 0
	filepath.WalkDir(filepath.Join(home, "storage", "shares"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// A hostile peer on the storage protocol: nothing is stored without an
// offer, beyond the per-client bound, larger than MaxShareSize or under an
// id that does not match the bytes; nothing is allocated for a size it
// claims beyond those bounds; no one but the share's client deletes it;
// a request of more than 8 segments is refused.
func TestStorageHostilePeer(t *testing.T) {
	t.Parallel()
	d := harness.Start(t)
	did := mustID(t, d)
	h, _ := newPeer(t, d)
	data := make([]byte, 8<<10)
	rand.Read(data)
	id := storage.HashShare(data)

	// No offer: refused before any byte of the share.
	if first, _ := storageCall(t, h, did, storageReq(2, id, uint32(len(data)), 0), data); first != 1 {
		t.Fatalf("put without an offer: status %d, want refused (1)", first)
	}
	if _, errOut, code := harness.CLI(t, "storage", "offer", "64KiB", "--per-client", "12KiB", "--home", d.Home); code != 0 {
		t.Fatal(errOut)
	}
	// A size beyond MaxShareSize, and a size beyond the client's bound.
	if first, _ := storageCall(t, h, did, storageReq(2, id, 0xffffffff, 0), nil); first != 5 {
		t.Fatalf("put of 4 GiB: status %d, want bad request (5)", first)
	}
	if first, _ := storageCall(t, h, did, storageReq(2, id, 16<<10, 0), nil); first != 1 {
		t.Fatalf("put beyond the per-client bound: status %d, want refused (1)", first)
	}
	// Bytes that do not match the id are not kept.
	var wrong storage.ShareID
	if first, final := storageCall(t, h, did, storageReq(2, wrong, uint32(len(data)), 0), data); first != 0 || final != 3 {
		t.Fatalf("mismatched share: statuses %d, %d, want go-ahead then corrupt (3)", first, final)
	}
	if n := shareFiles(d.Home); n != 0 {
		t.Fatalf("%d share files kept after a mismatched put", n)
	}
	// A real share is stored; the quota then holds no second one.
	if first, final := storageCall(t, h, did, storageReq(2, id, uint32(len(data)), 0), data); first != 0 || final != 0 {
		t.Fatalf("honest put: statuses %d, %d", first, final)
	}
	other := make([]byte, 8<<10)
	rand.Read(other)
	if first, _ := storageCall(t, h, did, storageReq(2, storage.HashShare(other), uint32(len(other)), 0), other); first != 1 {
		t.Fatalf("second share over the per-client bound: status %d", first)
	}
	// Another identity may read and challenge it, not delete it.
	h2, _ := newPeer(t, d)
	if first, _ := storageCall(t, h2, did, storageReq(5, id, 0, 0), nil); first != 1 {
		t.Fatalf("delete by a stranger: status %d, want refused", first)
	}
	if first, _ := storageCall(t, h2, did, storageReq(4, id, 0, 9), nil); first != 5 {
		t.Fatalf("challenge of 9 segments: status %d, want bad request", first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h2.NewStream(ctx, did, storage.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	p2p.WriteMsg(st, storageReq(3, id, 0, 0))
	if resp, err := p2p.ReadMsg(st, 1024); err != nil || resp[0] != 0 {
		t.Fatalf("get by anyone: %v", err)
	}
	got, err := p2p.ReadMsg(st, 16<<10)
	st.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get returned other bytes: %v", err)
	}
	// A request whose length prefix claims 1 MiB is reset unread.
	st, err = h2.NewStream(ctx, did, storage.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	st.Write(binary.AppendUvarint(nil, 1<<20))
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := st.Read(make([]byte, 16)); err == nil {
		t.Fatalf("oversized request answered with %d bytes", n)
	}
	st.Close()
	if n := shareFiles(d.Home); n != 1 {
		t.Fatalf("%d share files, want 1", n)
	}
}
