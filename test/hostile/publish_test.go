//go:build linux

package hostile

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/publish"
	"github.com/peerpath/peerpath/test/harness"
)

// publishCall sends one request on the records protocol and returns the
// answer's status, message and record.
func publishCall(t *testing.T, h host.Host, to peer.ID, req []byte) (byte, string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, to, publish.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(20 * time.Second))
	if err := p2p.WriteMsg(st, req); err != nil {
		t.Fatal(err)
	}
	resp, err := p2p.ReadMsg(st, 16<<10)
	if err != nil || len(resp) < 3 {
		t.Fatalf("no answer: %v", err)
	}
	n := int(binary.BigEndian.Uint16(resp[1:]))
	return resp[0], string(resp[3 : 3+n]), resp[3+n:]
}

// record encodes a record by hand, as a hostile peer would, signed by key.
func record(op byte, loc []byte, seq uint64, expires time.Time, sealed []byte, key ed25519.PrivateKey) []byte {
	b := []byte{1, op}
	b = append(b, loc...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(expires.Unix()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(sealed)))
	b = append(b, sealed...)
	msg := append([]byte("peerpath-publish-record-v1\x00"), b...)
	return append(b, ed25519.Sign(key, msg)...)
}

// A storing peer keeps a document's record under its public key and
// refuses, with a reason, every change not signed by the private key the
// publisher keeps: a forged update, a forged delete, a re-signed copy, a
// replay of an older version (rollback), malformed bytes. The document
// stays fetchable by URL throughout.
func TestPublishForgedRecordsRefused(t *testing.T) {
	t.Parallel()
	owner := harness.Start(t)
	holders := []*harness.Daemon{harness.Start(t, "--bootstrap", owner.Addr()), harness.Start(t, "--bootstrap", owner.Addr())}
	for _, d := range holders {
		if _, errOut, code := harness.CLI(t, "storage", "offer", "16MiB", "--home", d.Home); code != 0 {
			t.Fatal(errOut)
		}
	}
	harness.Eventually(t, 30*time.Second, func() error {
		var ps []api.Peer
		harness.CLIJSON(t, &ps, "peers", "--home", owner.Home)
		if len(ps) < 2 {
			return os.ErrNotExist
		}
		return nil
	})
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	os.WriteFile(v1, []byte("the true text"), 0o644)
	os.WriteFile(v2, []byte("the true text, revised by its author"), 0o644)
	var pub api.Published
	harness.CLIJSON(t, &pub, "publish", v1, "--k", "1", "--n", "2", "--home", owner.Home)
	u, err := publish.ParseURL(pub.URL)
	if err != nil {
		t.Fatal(err)
	}
	target := holders[0]
	h, _ := newPeer(t, target)
	to := mustID(t, target)

	// Anyone may read the record (it is sealed); keep it to replay.
	fetch := append([]byte{2}, u.Locator[:]...)
	status, msg, rec1 := publishCall(t, h, to, fetch)
	if status != 0 || len(rec1) < 52+64 {
		t.Fatalf("fetch: status %d %q", status, msg)
	}
	sealed := rec1[52 : len(rec1)-64]
	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	exp := time.Now().Add(time.Hour)

	cases := []struct {
		name, want string
		rec        []byte
	}{
		{"forged update", "bad signature", record(1, u.Locator[:], 50, exp, sealed, attacker)},
		{"forged delete", "bad signature", record(2, u.Locator[:], 50, exp, nil, attacker)},
		{"re-signed copy with a higher version", "bad signature", func() []byte {
			b := append([]byte(nil), rec1...)
			binary.BigEndian.PutUint64(b[34:], 9)
			return b
		}()},
		{"garbage", "malformed", []byte("not a record at all")},
		{"delete with a body", "malformed", record(2, u.Locator[:], 50, exp, sealed, attacker)},
	}
	for _, c := range cases {
		status, msg, _ := publishCall(t, h, to, append([]byte{1}, c.rec...))
		if status == 0 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: status %d %q, want a refusal saying %q", c.name, status, msg, c.want)
		}
	}

	// The publisher updates; a replay of version 1 (a rollback) is refused.
	var up api.Published
	harness.CLIJSON(t, &up, "publish", "update", pub.URL, v2, "--home", owner.Home)
	if status, msg, _ := publishCall(t, h, to, append([]byte{1}, rec1...)); status == 0 || !strings.Contains(msg, "stale version") {
		t.Errorf("replayed version 1: status %d %q", status, msg)
	}
	// A record asking to be kept for ten years, properly signed for a
	// locator of the attacker's own, is refused too.
	pubKey := attacker.Public().(ed25519.PublicKey)
	if status, msg, _ := publishCall(t, h, to, append([]byte{1}, record(1, pubKey, 1, time.Now().Add(10*365*24*time.Hour), sealed, attacker)...)); status == 0 || !strings.Contains(msg, "longer than") {
		t.Errorf("ten-year record: status %d %q", status, msg)
	}

	reader := harness.Start(t, "--bootstrap", target.Addr())
	out := filepath.Join(t.TempDir(), "doc")
	var got api.PublishFetched
	harness.CLIJSON(t, &got, "get", pub.URL, "-o", out, "--home", reader.Home)
	if b, _ := os.ReadFile(out); !bytes.Equal(b, []byte("the true text, revised by its author")) || got.Seq != 2 {
		t.Fatalf("after the attacks the URL gives %q (version %d)", b, got.Seq)
	}
}
