package ratchet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

func mustHex32(t testing.TB, s string) (out [KeySize]byte) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeySize {
		t.Fatalf("bad hex %q", s)
	}
	copy(out[:], b)
	return out
}

// TestX25519RFC7748 checks the key pair and DH wrappers against RFC 7748
// section 6.1.
func TestX25519RFC7748(t *testing.T) {
	a, err := KeyPairFromPrivate(mustHex32(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := KeyPairFromPrivate(mustHex32(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Public != mustHex32(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a") {
		t.Fatalf("alice public %x", a.Public)
	}
	if b.Public != mustHex32(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f") {
		t.Fatalf("bob public %x", b.Public)
	}
	want := mustHex32(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
	k1, err := DH(a, b.Public)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := DH(b, a.Public)
	if err != nil {
		t.Fatal(err)
	}
	if k1 != want || k2 != want {
		t.Fatalf("shared %x %x, want %x", k1, k2, want)
	}
	// A low-order point gives an all-zero output, which DH refuses.
	if _, err := DH(a, [KeySize]byte{}); err == nil {
		t.Fatal("DH with the zero point succeeded")
	}
}

// TestKDFCK checks KDF_CK against the specification's recommendation
// computed independently: HMAC-SHA256(ck, 0x01) and HMAC-SHA256(ck, 0x02).
func TestKDFCK(t *testing.T) {
	var ck [KeySize]byte
	for i := range ck {
		ck[i] = byte(i)
	}
	next, mk := kdfCK(ck)
	h := func(c byte) []byte { m := hmac.New(sha256.New, ck[:]); m.Write([]byte{c}); return m.Sum(nil) }
	if !bytes.Equal(mk[:], h(1)) || !bytes.Equal(next[:], h(2)) {
		t.Fatal("KDF_CK differs from HMAC-SHA256(ck, 0x01 / 0x02)")
	}
	if next == ck || mk == ck || next == mk {
		t.Fatal("KDF_CK outputs repeat their input")
	}
}

// seeded is a deterministic randomness source for reproducible tests.
type seeded struct{ n uint64 }

func (s *seeded) Read(p []byte) (int, error) {
	for i := range p {
		s.n = s.n*6364136223846793005 + 1442695040888963407
		p[i] = byte(s.n >> 56)
	}
	return len(p), nil
}

func newIdentity(t testing.TB, seed byte) Identity {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	var priv [KeySize]byte
	for i := range priv {
		priv[i] = seed + 100
	}
	dh, err := KeyPairFromPrivate(priv)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{Sign: ed25519.NewKeyFromSeed(s), DH: dh}
}

// pair starts a session between Alice and Bob through X3DH and has Bob
// answer Alice's first message, so both can send.
type pair struct {
	t          testing.TB
	alice, bob *State
	init       Init
	r          *seeded
}

func newPair(t testing.TB) *pair {
	r := &seeded{n: 7}
	aliceID, bobID := newIdentity(t, 1), newIdentity(t, 2)
	spk, err := NewKeyPair(r)
	if err != nil {
		t.Fatal(err)
	}
	bundle := NewBundle(bobID, 9, spk)
	as, in, err := Start(aliceID, bundle, r)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := Respond(bobID, func(id uint32) (KeyPair, bool) { return spk, id == 9 }, in)
	if err != nil {
		t.Fatal(err)
	}
	if as.Secret != bs.Secret {
		t.Fatal("session secrets differ")
	}
	if bs.Peer != aliceID.Public() || as.Peer != bobID.Public() {
		t.Fatal("peers' identities wrong")
	}
	return &pair{t: t, alice: as.State, bob: bs.State, init: in, r: r}
}

type sent struct {
	h  Header
	ct []byte
	pt []byte
}

func (p *pair) send(from **State, text string) sent {
	p.t.Helper()
	n, h, ct, err := (*from).Encrypt([]byte(text))
	if err != nil {
		p.t.Fatal(err)
	}
	*from = n
	return sent{h, ct, []byte(text)}
}

func (p *pair) recv(to **State, m sent) {
	p.t.Helper()
	n, pt, err := (*to).Decrypt(m.h, m.ct, p.r)
	if err != nil {
		p.t.Fatalf("decrypt %q: %v", m.pt, err)
	}
	if !bytes.Equal(pt, m.pt) {
		p.t.Fatalf("got %q, want %q", pt, m.pt)
	}
	*to = n
}

func TestConversation(t *testing.T) {
	p := newPair(t)
	if _, _, _, err := p.bob.Encrypt([]byte("x")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("bob encrypted before hearing from alice: %v", err)
	}
	for round := range 20 {
		// Runs of different lengths in both directions.
		for i := range round%3 + 1 {
			p.recv(&p.bob, p.send(&p.alice, fmt.Sprintf("a%d.%d", round, i)))
		}
		for i := range round%4 + 1 {
			p.recv(&p.alice, p.send(&p.bob, fmt.Sprintf("b%d.%d", round, i)))
		}
	}
}

func TestOutOfOrder(t *testing.T) {
	p := newPair(t)
	var ms []sent
	for i := range 5 {
		ms = append(ms, p.send(&p.alice, fmt.Sprint("m", i)))
	}
	p.recv(&p.bob, ms[4])
	p.recv(&p.bob, ms[1])
	// Bob answers, Alice ratchets, sends more; the old chain's keys stay.
	p.recv(&p.alice, p.send(&p.bob, "reply"))
	late := p.send(&p.alice, "new chain")
	p.recv(&p.bob, late)
	p.recv(&p.bob, ms[0])
	p.recv(&p.bob, ms[3])
	p.recv(&p.bob, ms[2])
	if len(p.bob.Skipped) != 0 {
		t.Fatalf("%d skipped keys left after every message arrived", len(p.bob.Skipped))
	}
	// A message of a previous chain whose PN says it was lost: its key is
	// skipped when the new chain starts.
	a1 := p.send(&p.alice, "x1")
	a2 := p.send(&p.alice, "x2")
	p.recv(&p.bob, a2)
	p.recv(&p.bob, a1)
}

func TestReplayRefused(t *testing.T) {
	p := newPair(t)
	m := p.send(&p.alice, "once")
	p.recv(&p.bob, m)
	if _, _, err := p.bob.Decrypt(m.h, m.ct, p.r); !errors.Is(err, ErrAuth) {
		t.Fatalf("replayed message: %v", err)
	}
	// Replay of a skipped-then-used key.
	m1, m2 := p.send(&p.alice, "1"), p.send(&p.alice, "2")
	p.recv(&p.bob, m2)
	p.recv(&p.bob, m1)
	if _, _, err := p.bob.Decrypt(m1.h, m1.ct, p.r); !errors.Is(err, ErrAuth) {
		t.Fatalf("replayed skipped message: %v", err)
	}
}

func TestMaxSkip(t *testing.T) {
	p := newPair(t)
	p.recv(&p.bob, p.send(&p.alice, "first"))
	before, _ := p.bob.MarshalBinary()
	far := p.send(&p.alice, "x")
	far.h.N = p.bob.Nr + MaxSkip + 1
	if _, _, err := p.bob.Decrypt(far.h, far.ct, p.r); !errors.Is(err, ErrTooManySkipped) {
		t.Fatalf("header skipping %d keys: %v", MaxSkip+1, err)
	}
	// A header of a new chain whose PN claims too much is refused too.
	newChain := far
	newChain.h.DH[0] ^= 1
	newChain.h.N = 0
	newChain.h.PN = p.bob.Nr + MaxSkip + 1
	if _, _, err := p.bob.Decrypt(newChain.h, newChain.ct, p.r); !errors.Is(err, ErrTooManySkipped) {
		t.Fatalf("header with PN skipping %d keys: %v", MaxSkip+1, err)
	}
	after, _ := p.bob.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Fatal("a refused message changed the state")
	}
	// Exactly MaxSkip is allowed (far, numbered 1, is among them).
	var last sent
	for range MaxSkip {
		last = p.send(&p.alice, "y")
	}
	p.recv(&p.bob, last)
	if len(p.bob.Skipped) != MaxSkip {
		t.Fatalf("%d skipped keys, want %d", len(p.bob.Skipped), MaxSkip)
	}
}

func TestSkippedKeysBounded(t *testing.T) {
	p := newPair(t)
	for range 4 {
		var last sent
		for range MaxSkip + 1 {
			last = p.send(&p.alice, "z")
		}
		p.recv(&p.bob, last)
		p.recv(&p.alice, p.send(&p.bob, "ack"))
		if len(p.bob.Skipped) > MaxSkippedKeys {
			t.Fatalf("%d skipped keys stored, bound %d", len(p.bob.Skipped), MaxSkippedKeys)
		}
	}
	if len(p.bob.Skipped) != MaxSkippedKeys {
		t.Fatalf("%d skipped keys, want the bound %d", len(p.bob.Skipped), MaxSkippedKeys)
	}
}

// TestLeakedStateCannotDecryptEarlier: an attacker who steals either
// side's whole current state (root key, chain keys, ratchet private key,
// stored skipped keys) reads none of the messages exchanged before the
// theft, in either direction.
func TestLeakedStateCannotDecryptEarlier(t *testing.T) {
	p := newPair(t)
	var earlier []sent
	for round := range 6 {
		for i := range 3 {
			m := p.send(&p.alice, fmt.Sprintf("secret a%d.%d", round, i))
			p.recv(&p.bob, m)
			earlier = append(earlier, m)
		}
		m := p.send(&p.bob, fmt.Sprintf("secret b%d", round))
		p.recv(&p.alice, m)
		earlier = append(earlier, m)
	}
	for _, leaked := range []*State{p.alice, p.bob} {
		raw, _ := leaked.MarshalBinary()
		for _, m := range earlier {
			// Through the state's own decryption, and through every key
			// the leaked chain keys lead to.
			if _, _, err := leaked.Decrypt(m.h, m.ct, p.r); err == nil {
				t.Fatalf("leaked state decrypted earlier message %q", m.pt)
			}
			for _, ck := range [][KeySize]byte{leaked.CKs, leaked.CKr, leaked.RK} {
				for range 50 {
					var mk [KeySize]byte
					ck, mk = kdfCK(ck)
					if _, err := open(mk, m.ct, leaked.ad(m.h)); err == nil {
						t.Fatalf("a key derived from the leaked state opened %q", m.pt)
					}
				}
			}
			if bytes.Contains(raw, m.pt) {
				t.Fatalf("state holds plaintext %q", m.pt)
			}
		}
	}
}

// TestPostCompromiseSecurity: once both sides have taken a DH ratchet
// step with fresh keys after a leak, the leaked state (kept up to date
// with every message the attacker sees) reads no new message.
func TestPostCompromiseSecurity(t *testing.T) {
	p := newPair(t)
	p.recv(&p.bob, p.send(&p.alice, "hello"))
	p.recv(&p.alice, p.send(&p.bob, "hi"))
	eve := p.bob // the attacker's copy of Bob's state
	m1 := p.send(&p.alice, "a1")
	p.recv(&p.bob, m1)
	if n, _, err := eve.Decrypt(m1.h, m1.ct, &seeded{n: 99}); err == nil {
		eve = n // right after a leak, the current chain is readable: expected
	} else {
		t.Fatalf("the leaked state should read the chain current at the leak: %v", err)
	}
	p.recv(&p.alice, p.send(&p.bob, "b1")) // Bob's fresh ratchet key, unknown to Eve
	m2 := p.send(&p.alice, "a2")
	p.recv(&p.bob, m2)
	if _, _, err := eve.Decrypt(m2.h, m2.ct, &seeded{n: 99}); err == nil {
		t.Fatal("the leaked state decrypted a message sent after both sides ratcheted")
	}
}

func TestFailedDecryptChangesNothing(t *testing.T) {
	p := newPair(t)
	p.recv(&p.bob, p.send(&p.alice, "one"))
	before, _ := p.bob.MarshalBinary()
	m := p.send(&p.alice, "two")
	for i := range []int{0, 1, 2} {
		bad := sent{h: m.h, ct: bytes.Clone(m.ct), pt: m.pt}
		switch i {
		case 0:
			bad.ct[0] ^= 1
		case 1:
			bad.h.N++ // the header is authenticated data
		case 2:
			bad.h.DH[3] ^= 1 // a ratchet step to a made-up key
		}
		if _, _, err := p.bob.Decrypt(bad.h, bad.ct, p.r); err == nil {
			t.Fatalf("tampered message %d decrypted", i)
		}
		after, _ := p.bob.MarshalBinary()
		if !bytes.Equal(before, after) {
			t.Fatalf("tampered message %d changed the state", i)
		}
	}
	p.recv(&p.bob, m)
}

func TestStateRoundTrip(t *testing.T) {
	p := newPair(t)
	ms := []sent{p.send(&p.alice, "1"), p.send(&p.alice, "2"), p.send(&p.alice, "3")}
	p.recv(&p.bob, ms[2])
	for _, s := range []**State{&p.alice, &p.bob} {
		raw, err := (*s).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back, err := UnmarshalState(raw)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := back.MarshalBinary()
		if !bytes.Equal(raw, again) {
			t.Fatal("state changed through a round trip")
		}
		*s = back
	}
	p.recv(&p.bob, ms[0])
	p.recv(&p.bob, ms[1])
	p.recv(&p.alice, p.send(&p.bob, "back"))
}

func TestBundleAndInitChecked(t *testing.T) {
	bobID := newIdentity(t, 2)
	spk, _ := NewKeyPair(&seeded{n: 3})
	b := NewBundle(bobID, 1, spk)
	raw := b.Encode()
	if _, err := DecodeBundle(raw); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x40
		if _, err := DecodeBundle(bad); err == nil {
			t.Fatalf("bundle with byte %d changed accepted", i)
		}
	}
	// Another identity's signature on Bob's prekey.
	eve := newIdentity(t, 5)
	forged := b
	forged.PreKey = spk.Public
	forged.Identity = eve.Public()
	forged.Identity.Sign = b.Identity.Sign
	if forged.Verify() == nil {
		t.Fatal("bundle with a foreign identity key verified")
	}

	aliceID := newIdentity(t, 1)
	_, in, err := Start(aliceID, b, &seeded{n: 4})
	if err != nil {
		t.Fatal(err)
	}
	pk := func(id uint32) (KeyPair, bool) { return spk, id == 1 }
	enc := in.Encode()
	for i := range enc {
		bad := bytes.Clone(enc)
		bad[i] ^= 1
		bin, err := DecodeInit(bad)
		if err != nil {
			continue
		}
		s, err := Respond(bobID, pk, bin)
		if err == nil && s.Peer == aliceID.Public() && i < KeySize {
			t.Fatalf("init with EK byte %d changed still gave alice's identity", i)
		}
	}
	if _, err := Respond(bobID, func(uint32) (KeyPair, bool) { return KeyPair{}, false }, in); err == nil {
		t.Fatal("init for an unknown prekey accepted")
	}
}

// TestImpersonationFails: Eve seals Alice's (public, validly signed)
// identity into an init and derives the best session key she can (her own
// X25519 identity in place of Alice's for DH1); Bob accepts the init, but
// Eve's messages do not decrypt, since only Alice can compute DH1.
func TestImpersonationFails(t *testing.T) {
	r := &seeded{n: 11}
	aliceID, bobID, eveID := newIdentity(t, 1), newIdentity(t, 2), newIdentity(t, 3)
	spk, _ := NewKeyPair(r)
	bundle := NewBundle(bobID, 1, spk)
	ek, _ := NewKeyPair(r)
	dh1, _ := DH(eveID.DH, bundle.PreKey)
	dh2, _ := DH(ek, bundle.Identity.DH)
	dh3, _ := DH(ek, bundle.PreKey)
	alice := aliceID.Public()
	ad := append(append(append(append([]byte{}, alice.Sign[:]...), alice.DH[:]...), bundle.Identity.Sign[:]...), bundle.Identity.DH[:]...)
	es, err := InitAlice(x3dhKDF(dh1, dh2, dh3), bundle.PreKey, ad, r)
	if err != nil {
		t.Fatal(err)
	}
	in := Init{EK: ek.Public, PreKeyID: 1, Sealed: sealIdentity(dh3, alice.Encode(), nil)}
	bs, err := Respond(bobID, func(uint32) (KeyPair, bool) { return spk, true }, in)
	if err != nil {
		t.Fatal(err)
	}
	if bs.Peer != alice {
		t.Fatal("bob did not read the claimed identity")
	}
	_, h, ct, _ := es.Encrypt([]byte("I am alice"))
	if _, _, err := bs.State.Decrypt(h, ct, r); !errors.Is(err, ErrAuth) {
		t.Fatalf("eve's message as alice's: %v", err)
	}
}
