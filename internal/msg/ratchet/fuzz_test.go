package ratchet

import (
	"bytes"
	"testing"
)

func FuzzDecodeHeader(f *testing.F) {
	f.Add(Header{PN: 3, N: 7}.Encode())
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Encode(), b) {
			t.Fatal("header does not round-trip")
		}
	})
}

func FuzzDecodeBundle(f *testing.F) {
	spk, _ := NewKeyPair(&seeded{n: 1})
	f.Add(NewBundle(newIdentity(f, 2), 5, spk).Encode())
	f.Add(make([]byte, BundleSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		bd, err := DecodeBundle(b)
		if err != nil {
			return
		}
		if bd.Verify() != nil || !bytes.Equal(bd.Encode(), b) {
			t.Fatal("accepted a bundle that does not verify or round-trip")
		}
	})
}

// FuzzRespond feeds made-up inits to Bob: none may panic, and one that
// is accepted names a validly signed identity.
func FuzzRespond(f *testing.F) {
	bobID := newIdentity(f, 2)
	spk, _ := NewKeyPair(&seeded{n: 1})
	_, in, err := Start(newIdentity(f, 1), NewBundle(bobID, 5, spk), &seeded{n: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(in.Encode())
	f.Add(make([]byte, InitSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeInit(b)
		if err != nil {
			return
		}
		s, err := Respond(bobID, func(id uint32) (KeyPair, bool) { return spk, id == 5 }, in)
		if err != nil {
			return
		}
		if s.Peer.Verify() != nil {
			t.Fatal("accepted an unsigned identity")
		}
	})
}

func FuzzUnmarshalState(f *testing.F) {
	p := newPair(f)
	p.recv(&p.bob, p.send(&p.alice, "x"))
	p.send(&p.alice, "y")                 // lost: its key is skipped
	p.recv(&p.bob, p.send(&p.alice, "z")) // leaves one skipped key
	raw, _ := p.bob.MarshalBinary()
	f.Add(raw)
	f.Add([]byte{stateVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalState(b)
		if err != nil {
			return
		}
		if len(s.Skipped) > MaxSkippedKeys || len(s.AD) > maxADSize {
			t.Fatal("accepted a state over its bounds")
		}
		again, _ := s.MarshalBinary()
		s2, err := UnmarshalState(again)
		if err != nil {
			t.Fatal(err)
		}
		if again2, _ := s2.MarshalBinary(); !bytes.Equal(again, again2) {
			t.Fatal("state does not round-trip")
		}
	})
}

// FuzzDecrypt feeds made-up messages to a live state: none may panic,
// none may decrypt, and none may change the state.
func FuzzDecrypt(f *testing.F) {
	p := newPair(f)
	p.recv(&p.bob, p.send(&p.alice, "x"))
	m := p.send(&p.alice, "y")
	f.Add(m.h.Encode(), m.ct)
	f.Add(make([]byte, HeaderSize), []byte{})
	before, _ := p.bob.MarshalBinary()
	f.Fuzz(func(t *testing.T, hb, ct []byte) {
		h, err := DecodeHeader(hb)
		if err != nil {
			return
		}
		_, pt, err := p.bob.Decrypt(h, ct, &seeded{n: 5})
		if err == nil && !(h == m.h && bytes.Equal(ct, m.ct)) {
			t.Fatalf("a made-up message decrypted to %q", pt)
		}
		if after, _ := p.bob.MarshalBinary(); !bytes.Equal(before, after) {
			t.Fatal("Decrypt changed its receiver")
		}
	})
}
