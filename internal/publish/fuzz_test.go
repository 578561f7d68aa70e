package publish

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func testURL() URL {
	var u URL
	for i := range u.Locator {
		u.Locator[i] = byte(i)
		u.Key[i] = byte(200 - i)
	}
	u.Hints = []peer.ID{"\x00\x24\x08\x01\x12\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	return u
}

func TestURLRoundTrip(t *testing.T) {
	u := testURL()
	s := u.String()
	got, err := ParseURL(s)
	if err != nil || got.Locator != u.Locator || got.Key != u.Key || len(got.Hints) != 1 || got.Hints[0] != u.Hints[0] {
		t.Fatalf("%s: %+v %v", s, got, err)
	}
	if !strings.Contains(s, "?via=") || !IsURL(s) || IsURL("bafkreiabc") {
		t.Fatalf("url %s", s)
	}
	u.Hints = nil
	if got, err := ParseURL(u.String()); err != nil || got.Hints != nil {
		t.Fatalf("no hints: %v", err)
	}
	for _, bad := range []string{
		"", "peerpath://doc/", "https://doc/x#y", URLPrefix + u.Locator.String(), // no key
		URLPrefix + u.Locator.String() + "#short",
		URLPrefix + u.Locator.String() + "?via=#" + strings.Repeat("A", 43),
		URLPrefix + u.Locator.String() + "?x=1#" + strings.Repeat("A", 43),
		URLPrefix + u.Locator.String() + "?via=notapeer#" + strings.Repeat("A", 43),
		URLPrefix + strings.Repeat("A", 2000),
		URLPrefix + u.Locator.String()[:42] + "B#" + strings.Repeat("A", 43), // non-canonical base64
	} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

func TestSecretRoundTrip(t *testing.T) {
	seed := bytes.Repeat([]byte{3}, 32)
	got, err := ParseSecret(" " + FormatSecret(seed) + "\n")
	if err != nil || !bytes.Equal(got, seed) {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "ppsecret1:", "ppsecret1:abc", "x" + FormatSecret(seed)} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
}

func signedRecord(op byte) (*record, [32]byte) {
	loc, priv := keyPair(bytes.Repeat([]byte{5}, 32))
	var key [32]byte
	key[0] = 1
	r := &record{Op: op, Loc: loc, Seq: 7, Expires: 1_900_000_000}
	if op == opPublish {
		r.Sealed, _ = seal(&key, r, body{Ref: "ref", CID: "cid", Name: "n", Size: 3, K: 1, N: 2})
	}
	r.sign(priv)
	return r, key
}

func TestRecordSignAndSeal(t *testing.T) {
	r, key := signedRecord(opPublish)
	got, err := decodeRecord(r.encode())
	if err != nil || got.verify() != nil {
		t.Fatalf("decode: %v", err)
	}
	b, err := open(&key, &got)
	if err != nil || b.Ref != "ref" || b.Size != 3 {
		t.Fatalf("open: %+v %v", b, err)
	}
	// Every byte is covered by the signature.
	enc := r.encode()
	for i := range enc {
		bad := append([]byte(nil), enc...)
		bad[i] ^= 0x10
		if r2, err := decodeRecord(bad); err == nil && r2.verify() == nil {
			t.Fatalf("flipping byte %d kept a valid record", i)
		}
	}
	// The body opens only under its record's seq and the URL's key.
	moved := got
	moved.Seq++
	if _, err := open(&key, &moved); err == nil {
		t.Fatal("body opened under another seq")
	}
	key[1] ^= 1
	if _, err := open(&key, &got); err == nil {
		t.Fatal("body opened with another key")
	}
	if len(r.Sig) != ed25519.SignatureSize {
		t.Fatal("signature size")
	}
}

// FuzzParseURL: a URL pasted by anyone.
func FuzzParseURL(f *testing.F) {
	u := testURL()
	f.Add(u.String())
	u.Hints = nil
	f.Add(u.String())
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if err != nil {
			return
		}
		if len(u.Hints) > MaxHints {
			t.Fatalf("%d hints", len(u.Hints))
		}
		again, err := ParseURL(u.String())
		if err != nil || again.Locator != u.Locator || again.Key != u.Key || len(again.Hints) != len(u.Hints) {
			t.Fatalf("re-encoded URL %q does not decode the same: %v", u.String(), err)
		}
	})
}

// FuzzDecodeRecord: a record from a publisher (storing side) or from a
// storing peer (fetcher side).
func FuzzDecodeRecord(f *testing.F) {
	r, _ := signedRecord(opPublish)
	f.Add(r.encode())
	d, _ := signedRecord(opDelete)
	f.Add(d.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if len(r.Sealed) > MaxSealed {
			t.Fatalf("body of %d bytes", len(r.Sealed))
		}
		if !bytes.Equal(r.encode(), b) {
			t.Fatal("record does not re-encode to its bytes")
		}
		_ = r.verify()
	})
}

// FuzzOpenBody: a record's body, signed by a (possibly hostile) publisher
// and opened with the URL's key.
func FuzzOpenBody(f *testing.F) {
	r, key := signedRecord(opPublish)
	f.Add(r.Sealed)
	f.Fuzz(func(t *testing.T, sealed []byte) {
		rr := *r
		rr.Sealed = sealed
		b, err := open(&key, &rr)
		if err == nil && (b.K < 1 || b.N <= b.K || b.Size < 0) {
			t.Fatalf("accepted body %+v", b)
		}
	})
}

// FuzzDecodeRequest: what a storing peer reads from any peer.
func FuzzDecodeRequest(f *testing.F) {
	r, _ := signedRecord(opPublish)
	f.Add((&request{Op: reqStore, Record: r.encode()}).encode())
	f.Add((&request{Op: reqFetch, Loc: r.Loc}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeRequest(b)
		if err != nil {
			return
		}
		if len(req.Record) > MaxRecord || !bytes.Equal(req.encode(), b) {
			t.Fatal("request out of bounds or does not re-encode")
		}
	})
}

// FuzzDecodeResponse: what a fetcher reads from a storing peer.
func FuzzDecodeResponse(f *testing.F) {
	r, _ := signedRecord(opDelete)
	f.Add((&response{Record: r.encode()}).encode())
	f.Add((&response{Status: statusRefused, Msg: "no"}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := decodeResponse(b)
		if err != nil {
			return
		}
		if len(resp.Msg) > maxMsgText || len(resp.Record) > MaxRecord {
			t.Fatal("response out of bounds")
		}
	})
}
