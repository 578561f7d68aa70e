package storage

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/peerpath/peerpath/internal/testutil"
)

func TestObjectRoundTripFromAnyK(t *testing.T) {
	for _, size := range []int{0, 1, 4088, 4089, 100_000, 1 << 20} {
		for _, kn := range [][2]int{{1, 2}, {3, 5}, {4, 8}, {10, 16}} {
			k, n := kn[0], kn[1]
			plain := testutil.RandBytes(size)
			ref, shares, err := EncodeObject(plain, k, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(shares) != n || ref.ShareSize() != len(shares[0]) {
				t.Fatalf("size %d k=%d n=%d: %d shares of %d", size, k, n, len(shares), len(shares[0]))
			}
			for trial := 0; trial < 4; trial++ {
				in := make([][]byte, n)
				for _, i := range rand.Perm(n)[:k] {
					in[i] = shares[i]
				}
				got, err := DecodeObject(ref, in)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("size %d k=%d n=%d: decode from %d shares: %v", size, k, n, k, err)
				}
			}
			// k-1 shares are not enough.
			in := make([][]byte, n)
			for _, i := range rand.Perm(n)[:k-1] {
				in[i] = shares[i]
			}
			if _, err := DecodeObject(ref, in); !errors.Is(err, ErrTooFewShares) {
				t.Fatalf("decode from k-1 shares: %v", err)
			}
		}
	}
}

func TestAlteredShareIsNotUsed(t *testing.T) {
	plain := testutil.RandBytes(50_000)
	ref, shares, err := EncodeObject(plain, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	in := make([][]byte, 5)
	copy(in, shares)
	bad := bytes.Clone(shares[0])
	bad[len(bad)/2] ^= 1
	in[0] = bad
	in[1] = nil
	in[2] = nil // shares 3 and 4 verified, 0 altered: too few
	if _, err := DecodeObject(ref, in); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("altered share counted: %v", err)
	}
	in[2] = shares[2]
	got, err := DecodeObject(ref, in)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decode around an altered share: %v", err)
	}
	// Rebuild restores the exact shares, ids and all.
	re := [][]byte{bad, nil, shares[2], shares[3], shares[4]}
	if err := Rebuild(ref, re); err != nil {
		t.Fatal(err)
	}
	for i := range re {
		if !bytes.Equal(re[i], shares[i]) {
			t.Fatalf("rebuilt share %d differs", i)
		}
	}
}

func TestWrongKeyFails(t *testing.T) {
	ref, shares, _ := EncodeObject([]byte("secret"), 2, 3)
	ref.Key[0] ^= 1
	if _, err := DecodeObject(ref, shares); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestPaddingHidesSize(t *testing.T) {
	prev := 0
	for n := 0; n < 3<<20; n += 997 {
		p := PaddedSize(n)
		if p < n+frameHeader || p < prev {
			t.Fatalf("PaddedSize(%d) = %d", n, p)
		}
		if n > minPadded && float64(p) > float64(n+frameHeader)*1.0625 {
			t.Fatalf("PaddedSize(%d) = %d: more than 6.25%% padding", n, p)
		}
		prev = p
	}
	// Plaintexts of nearby sizes give shares of one size.
	a, _, _ := EncodeObject(make([]byte, 300_000), 4, 8)
	b, _, _ := EncodeObject(make([]byte, 300_900), 4, 8)
	if a.ShareSize() != b.ShareSize() {
		t.Fatalf("share sizes %d and %d reveal the plaintext size", a.ShareSize(), b.ShareSize())
	}
}

func TestShareHidesPlaintext(t *testing.T) {
	plain := bytes.Repeat([]byte("the quarterly report of acme "), 2000)
	_, shares, _ := EncodeObject(plain, 4, 8)
	for i, s := range shares {
		if bytes.Contains(s, plain[:16]) || bytes.Contains(s, []byte("quarterly")) {
			t.Fatalf("share %d holds plaintext", i)
		}
	}
}

func TestSegmentProofs(t *testing.T) {
	for _, size := range []int{1, SegmentSize, SegmentSize + 1, 5*SegmentSize + 3} {
		share := testutil.RandBytes(size)
		id := HashShare(share)
		hashes := SegmentHashes(share)
		for i := range hashes {
			lo := i * SegmentSize
			seg := share[lo:min(lo+SegmentSize, size)]
			if err := VerifySegment(id, size, hashes, i, seg); err != nil {
				t.Fatalf("size %d segment %d: %v", size, i, err)
			}
			bad := bytes.Clone(seg)
			bad[0] ^= 1
			if err := VerifySegment(id, size, hashes, i, bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("altered segment accepted: %v", err)
			}
			forged := SegmentHashes(share)
			forged[i] = [32]byte{}
			if err := VerifySegment(id, size, forged, i, seg); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("forged hashes accepted: %v", err)
			}
		}
	}
}

func TestRefRoundTrip(t *testing.T) {
	ref, _, _ := EncodeObject([]byte("x"), 4, 8)
	ref.Holders[2] = "12D3KooWLRPJAA5o6ZFSFqvBRiCyAZ1ToHqEodamzYmGSeCTBKeS"
	got, err := ParseRef(ref.String())
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != ref.String() || got.Key != ref.Key || got.Holders[2] != ref.Holders[2] {
		t.Fatalf("round trip: %+v", got)
	}
	for _, bad := range []string{"", "AAAA", ref.String()[:40], ref.String() + "AA", "!!!"} {
		if _, err := ParseRef(bad); !errors.Is(err, ErrBadRef) {
			t.Fatalf("ParseRef(%q): %v", bad, err)
		}
	}
}

// TestEncoderReuse: one Encoder codes objects of different sizes in turn
// (its buffer grows and shrinks in use); each decodes to its plaintext,
// the shares match their ids, and the result equals EncodeObject's layout.
func TestEncoderReuse(t *testing.T) {
	var e Encoder
	for _, n := range []int{3 << 20, 0, 100, 1 << 20, 5000, 3 << 20} {
		plain := testutil.RandBytes(n)
		ref, shares, err := e.Encode(plain, 10, 16)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range shares {
			if HashShare(s) != ref.Shares[i] || len(s) != ref.ShareSize() {
				t.Fatalf("size %d: share %d does not match its id", n, i)
			}
		}
		// Any 10 of the 16 decode it: drop the first six.
		got := make([][]byte, len(shares))
		for i := 6; i < 16; i++ {
			got[i] = bytes.Clone(shares[i])
		}
		out, err := DecodeObject(ref, got)
		if err != nil || !bytes.Equal(out, plain) {
			t.Fatalf("size %d: decode: %v", n, err)
		}
		// The sealed frame is what Seal makes under the same key.
		sealed := Seal(&ref.Key, plain)
		var joined []byte
		for i := range 10 {
			joined = append(joined, shares[i]...)
		}
		if !bytes.Equal(joined[:ref.Size], sealed) || !bytes.Equal(joined[ref.Size:], make([]byte, len(joined)-ref.Size)) {
			t.Fatalf("size %d: data shares are not the sealed frame and zeros", n)
		}
	}
}
