package ratchet

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// MaxSkip is the most message keys one received message may make the
// receiver skip (and store) in one chain: a header claiming a larger jump
// is refused before any key is derived (the specification's MAX_SKIP).
const MaxSkip = 1000

// MaxSkippedKeys bounds the skipped message keys a state keeps; past it
// the oldest are dropped (their messages can then no longer be read).
const MaxSkippedKeys = 2000

// KeySize is the size of X25519 keys and of root, chain and message keys.
const KeySize = 32

// HeaderSize is the size of an encoded [Header].
const HeaderSize = KeySize + 4 + 4

// Errors returned by [State.Decrypt] and the decoders. A message that
// gives any of them changed nothing.
var (
	// ErrTooManySkipped: the header asks to skip more than MaxSkip keys.
	ErrTooManySkipped = errors.New("ratchet: message skips too many keys")
	// ErrAuth: the message does not authenticate under any key this
	// state holds (tampered, replayed, or not for this session).
	ErrAuth = errors.New("ratchet: message authentication failed")
	// ErrNotReady: a receiving-only state (Bob's before his first
	// message arrived) cannot encrypt yet.
	ErrNotReady = errors.New("ratchet: no sending chain yet")
	// ErrMalformed: bytes that do not decode.
	ErrMalformed = errors.New("ratchet: malformed input")
)

// KeyPair is an X25519 key pair.
type KeyPair struct {
	Private [KeySize]byte
	Public  [KeySize]byte
}

// NewKeyPair returns a fresh X25519 key pair from r (crypto/rand if nil).
func NewKeyPair(r io.Reader) (KeyPair, error) {
	if r == nil {
		r = rand.Reader
	}
	var kp KeyPair
	if _, err := io.ReadFull(r, kp.Private[:]); err != nil {
		return KeyPair{}, fmt.Errorf("ratchet: key pair: %w", err)
	}
	pub, err := curve25519.X25519(kp.Private[:], curve25519.Basepoint)
	if err != nil {
		return KeyPair{}, fmt.Errorf("ratchet: key pair: %w", err)
	}
	copy(kp.Public[:], pub)
	return kp, nil
}

// KeyPairFromPrivate rebuilds a key pair from its private half.
func KeyPairFromPrivate(priv [KeySize]byte) (KeyPair, error) {
	// Every state loaded rebuilds its ratchet key pair: the public halves
	// are cached under a hash of the private one (no private key is kept).
	h := sha256.Sum256(priv[:])
	pubCache.Lock()
	pub, ok := pubCache.m[h]
	pubCache.Unlock()
	if ok {
		return KeyPair{Private: priv, Public: pub}, nil
	}
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return KeyPair{}, fmt.Errorf("ratchet: key pair: %w", err)
	}
	kp := KeyPair{Private: priv}
	copy(kp.Public[:], p)
	pubCache.Lock()
	if len(pubCache.m) >= 4096 {
		clear(pubCache.m)
	}
	pubCache.m[h] = kp.Public
	pubCache.Unlock()
	return kp, nil
}

var pubCache = struct {
	sync.Mutex
	m map[[32]byte][KeySize]byte
}{m: map[[32]byte][KeySize]byte{}}

// DH is X25519(priv, pub). It fails for a low-order public key (an
// all-zero output), which no honest peer sends.
func DH(priv KeyPair, pub [KeySize]byte) ([KeySize]byte, error) {
	var out [KeySize]byte
	s, err := curve25519.X25519(priv.Private[:], pub[:])
	if err != nil {
		return out, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	copy(out[:], s)
	return out, nil
}

// Header is a message's clear header: the sender's ratchet public key,
// the length of its previous sending chain (PN) and the message's number
// in the current one (N).
type Header struct {
	DH [KeySize]byte
	PN uint32
	N  uint32
}

// Encode returns the header's fixed 40-byte form.
func (h Header) Encode() []byte {
	b := make([]byte, HeaderSize)
	copy(b, h.DH[:])
	binary.BigEndian.PutUint32(b[KeySize:], h.PN)
	binary.BigEndian.PutUint32(b[KeySize+4:], h.N)
	return b
}

// DecodeHeader parses a header's 40-byte form.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != HeaderSize {
		return h, fmt.Errorf("%w: header of %d bytes", ErrMalformed, len(b))
	}
	copy(h.DH[:], b)
	h.PN = binary.BigEndian.Uint32(b[KeySize:])
	h.N = binary.BigEndian.Uint32(b[KeySize+4:])
	return h, nil
}

// skippedKey names a stored message key: the ratchet public key of its
// chain and its number there.
type skippedKey struct {
	DH [KeySize]byte
	N  uint32
}

type skipped struct {
	skippedKey
	MK [KeySize]byte
}

// State is one side of a session (the specification's "state" variables).
// The zero value is not usable: build one with [InitAlice] or [InitBob],
// or [UnmarshalState]. Methods never change the receiver.
type State struct {
	DHs      KeyPair
	DHr      [KeySize]byte
	HasDHr   bool
	RK       [KeySize]byte
	CKs, CKr [KeySize]byte
	HasCKs   bool
	HasCKr   bool
	Ns, Nr   uint32
	PN       uint32
	Skipped  []skipped // oldest first, at most MaxSkippedKeys
	AD       []byte    // associated data from the key agreement
}

// InitAlice starts the session of the side that sends first: sk is the
// shared secret of the key agreement, bobDH Bob's ratchet public key (his
// signed prekey in X3DH), ad the key agreement's associated data. r is
// the randomness for ratchet keys (crypto/rand if nil).
func InitAlice(sk [KeySize]byte, bobDH [KeySize]byte, ad []byte, r io.Reader) (*State, error) {
	dhs, err := NewKeyPair(r)
	if err != nil {
		return nil, err
	}
	s := &State{DHs: dhs, DHr: bobDH, HasDHr: true, AD: slices.Clone(ad)}
	out, err := DH(s.DHs, s.DHr)
	if err != nil {
		return nil, err
	}
	s.RK, s.CKs = kdfRK(sk, out)
	s.HasCKs = true
	return s, nil
}

// InitBob starts the session of the side that receives first, with the
// key pair whose public half Alice used as bobDH.
func InitBob(sk [KeySize]byte, bobKP KeyPair, ad []byte) *State {
	return &State{DHs: bobKP, RK: sk, AD: slices.Clone(ad)}
}

// clone returns a deep copy.
func (s *State) clone() *State {
	c := *s
	c.Skipped = slices.Clone(s.Skipped)
	c.AD = slices.Clone(s.AD)
	return &c
}

// Encrypt encrypts plaintext as the next message of the sending chain and
// returns the new state, the header and the ciphertext.
func (s *State) Encrypt(plaintext []byte) (*State, Header, []byte, error) {
	if !s.HasCKs {
		return nil, Header{}, nil, ErrNotReady
	}
	n := s.clone()
	var mk [KeySize]byte
	n.CKs, mk = kdfCK(n.CKs)
	h := Header{DH: n.DHs.Public, PN: n.PN, N: n.Ns}
	n.Ns++
	ct := seal(mk, plaintext, n.ad(h))
	return n, h, ct, nil
}

// Decrypt decrypts a message and returns the new state and the plaintext.
// On any error the receiver is what it was: nothing of a bad message is
// kept. r is the randomness for a new ratchet key (crypto/rand if nil).
func (s *State) Decrypt(h Header, ciphertext []byte, r io.Reader) (*State, []byte, error) {
	n := s.clone()
	// A key skipped earlier?
	for i, k := range n.Skipped {
		if k.DH == h.DH && k.N == h.N {
			pt, err := open(k.MK, ciphertext, n.ad(h))
			if err != nil {
				return nil, nil, ErrAuth
			}
			n.Skipped = slices.Delete(n.Skipped, i, i+1)
			return n, pt, nil
		}
	}
	if !n.HasDHr || h.DH != n.DHr {
		if err := n.skip(h.PN); err != nil {
			return nil, nil, err
		}
		if err := n.dhRatchet(h, r); err != nil {
			return nil, nil, err
		}
	}
	if err := n.skip(h.N); err != nil {
		return nil, nil, err
	}
	var mk [KeySize]byte
	n.CKr, mk = kdfCK(n.CKr)
	n.Nr++
	pt, err := open(mk, ciphertext, n.ad(h))
	if err != nil {
		return nil, nil, ErrAuth
	}
	return n, pt, nil
}

// skip stores the message keys of the receiving chain up to (not
// including) number until (the specification's SkipMessageKeys).
func (s *State) skip(until uint32) error {
	if !s.HasCKr {
		return nil
	}
	if until < s.Nr {
		return nil // an old number: the skipped-key lookup failed, decryption will too
	}
	if until-s.Nr > MaxSkip {
		return ErrTooManySkipped
	}
	for s.Nr < until {
		var mk [KeySize]byte
		s.CKr, mk = kdfCK(s.CKr)
		s.Skipped = append(s.Skipped, skipped{skippedKey{s.DHr, s.Nr}, mk})
		s.Nr++
	}
	if over := len(s.Skipped) - MaxSkippedKeys; over > 0 {
		s.Skipped = slices.Delete(s.Skipped, 0, over)
	}
	return nil
}

// dhRatchet is the specification's DHRatchet step.
func (s *State) dhRatchet(h Header, r io.Reader) error {
	s.PN = s.Ns
	s.Ns, s.Nr = 0, 0
	s.DHr, s.HasDHr = h.DH, true
	out, err := DH(s.DHs, s.DHr)
	if err != nil {
		return err
	}
	s.RK, s.CKr = kdfRK(s.RK, out)
	s.HasCKr = true
	if s.DHs, err = NewKeyPair(r); err != nil {
		return err
	}
	if out, err = DH(s.DHs, s.DHr); err != nil {
		return err
	}
	s.RK, s.CKs = kdfRK(s.RK, out)
	s.HasCKs = true
	return nil
}

func (s *State) ad(h Header) []byte {
	return append(slices.Clip(s.AD), h.Encode()...)
}

// kdfRK is KDF_RK: HKDF-SHA256, salt rk, input dhOut.
func kdfRK(rk, dhOut [KeySize]byte) (root, chain [KeySize]byte) {
	r := hkdf.New(sha256.New, dhOut[:], rk[:], []byte("peerpath ratchet root"))
	io.ReadFull(r, root[:])
	io.ReadFull(r, chain[:])
	return root, chain
}

// kdfCK is KDF_CK: HMAC-SHA256 of constants 0x02 and 0x01 under ck.
func kdfCK(ck [KeySize]byte) (next, mk [KeySize]byte) {
	m := hmac.New(sha256.New, ck[:])
	m.Write([]byte{0x01})
	copy(mk[:], m.Sum(nil))
	m.Reset()
	m.Write([]byte{0x02})
	copy(next[:], m.Sum(nil))
	return next, mk
}

// messageKeys expands a message key into an AEAD key and nonce.
func messageKeys(mk [KeySize]byte) (key [chacha20poly1305.KeySize]byte, nonce [chacha20poly1305.NonceSize]byte) {
	r := hkdf.New(sha256.New, mk[:], make([]byte, KeySize), []byte("peerpath ratchet message"))
	io.ReadFull(r, key[:])
	io.ReadFull(r, nonce[:])
	return key, nonce
}

func seal(mk [KeySize]byte, pt, ad []byte) []byte {
	key, nonce := messageKeys(mk)
	aead, _ := chacha20poly1305.New(key[:])
	return aead.Seal(nil, nonce[:], pt, ad)
}

func open(mk [KeySize]byte, ct, ad []byte) ([]byte, error) {
	key, nonce := messageKeys(mk)
	aead, _ := chacha20poly1305.New(key[:])
	return aead.Open(nil, nonce[:], ct, ad)
}

// stateVersion tags the encoding of a State.
const stateVersion = 1

// maxADSize bounds the associated data a state carries.
const maxADSize = 1024

// MarshalBinary encodes the state for storage.
func (s *State) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte(stateVersion)
	var flags byte
	if s.HasDHr {
		flags |= 1
	}
	if s.HasCKs {
		flags |= 2
	}
	if s.HasCKr {
		flags |= 4
	}
	b.WriteByte(flags)
	b.Write(s.DHs.Private[:])
	b.Write(s.DHr[:])
	b.Write(s.RK[:])
	b.Write(s.CKs[:])
	b.Write(s.CKr[:])
	var u [4]byte
	for _, v := range []uint32{s.Ns, s.Nr, s.PN, uint32(len(s.AD)), uint32(len(s.Skipped))} {
		binary.BigEndian.PutUint32(u[:], v)
		b.Write(u[:])
	}
	b.Write(s.AD)
	for _, k := range s.Skipped {
		b.Write(k.DH[:])
		binary.BigEndian.PutUint32(u[:], k.N)
		b.Write(u[:])
		b.Write(k.MK[:])
	}
	return b.Bytes(), nil
}

// UnmarshalState decodes what [State.MarshalBinary] wrote. It checks
// every length against its bound before it allocates.
func UnmarshalState(b []byte) (*State, error) {
	const fixed = 2 + 5*KeySize + 5*4
	if len(b) < fixed || b[0] != stateVersion || b[1]&^7 != 0 {
		return nil, fmt.Errorf("%w: state", ErrMalformed)
	}
	s := &State{HasDHr: b[1]&1 != 0, HasCKs: b[1]&2 != 0, HasCKr: b[1]&4 != 0}
	p := b[2:]
	var priv [KeySize]byte
	copy(priv[:], p)
	kp, err := KeyPairFromPrivate(priv)
	if err != nil {
		return nil, err
	}
	s.DHs = kp
	p = p[KeySize:]
	for _, k := range []*[KeySize]byte{&s.DHr, &s.RK, &s.CKs, &s.CKr} {
		copy(k[:], p)
		p = p[KeySize:]
	}
	u := func() uint32 { v := binary.BigEndian.Uint32(p); p = p[4:]; return v }
	s.Ns, s.Nr, s.PN = u(), u(), u()
	adLen, nSkipped := u(), u()
	if adLen > maxADSize || nSkipped > MaxSkippedKeys {
		return nil, fmt.Errorf("%w: state lengths", ErrMalformed)
	}
	const per = KeySize + 4 + KeySize
	if uint64(len(p)) != uint64(adLen)+uint64(nSkipped)*per {
		return nil, fmt.Errorf("%w: state size", ErrMalformed)
	}
	s.AD = slices.Clone(p[:adLen])
	p = p[adLen:]
	if nSkipped > 0 {
		s.Skipped = make([]skipped, nSkipped)
	}
	for i := range s.Skipped {
		copy(s.Skipped[i].DH[:], p)
		s.Skipped[i].N = binary.BigEndian.Uint32(p[KeySize:])
		copy(s.Skipped[i].MK[:], p[KeySize+4:])
		p = p[per:]
	}
	return s, nil
}
