package ratchet

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// The initial key agreement is X3DH (Marlinspike and Perrin, "The X3DH Key
// Agreement Protocol", revision 1, 2016-11-04) without one-time prekeys,
// in a variant keyed to libp2p identities:
//
//   - A party's identity is its libp2p Ed25519 key. X3DH needs an X25519
//     identity key for its DH1 and DH2; each party keeps a separate static
//     X25519 key and binds it to its Ed25519 identity with a signature
//     ([PublicIdentity]), instead of converting the Ed25519 key.
//   - Bob publishes a [Bundle]: his public identity and a signed X25519
//     prekey. Alice checks both signatures, makes an ephemeral key EK and
//     computes DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B),
//     DH3 = DH(EK_A, SPK_B), SK = HKDF(0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3).
//   - AD = Alice's Ed25519 key ‖ her X25519 identity ‖ Bob's, the same.
//   - Alice's first messages carry an [Init]: EK, the prekey's id, and her
//     public identity sealed under a key from DH(EK_A, SPK_B), so that a
//     mailbox holding the message learns nothing of who sent it.
//
// Without one-time prekeys a replayed first message would be accepted
// again by X3DH itself; package msg keeps the ids of messages it has
// stored and drops a repeat. The prekey is rotated by its owner (package
// msg keeps the previous one for a while); forward secrecy of the first
// messages of a session rests on that.

// SignatureSize is the size of an Ed25519 signature.
const SignatureSize = ed25519.SignatureSize

// PublicIdentitySize is the size of an encoded [PublicIdentity].
const PublicIdentitySize = ed25519.PublicKeySize + KeySize + SignatureSize

// BundleSize is the size of an encoded [Bundle].
const BundleSize = PublicIdentitySize + 4 + KeySize + SignatureSize

// InitSize is the size of an encoded [Init].
const InitSize = KeySize + 4 + PublicIdentitySize + chacha20poly1305.Overhead

const (
	identityContext = "peerpath x3dh identity v1"
	prekeyContext   = "peerpath x3dh prekey v1"
)

// Identity is a party's long-term secret keys.
type Identity struct {
	// Sign is the libp2p Ed25519 identity key (64 bytes: seed ‖ public).
	Sign ed25519.PrivateKey
	// DH is the static X25519 identity key.
	DH KeyPair
}

// PublicIdentity is the public half of an [Identity], with the signature
// that binds the X25519 key to the Ed25519 one.
type PublicIdentity struct {
	Sign [ed25519.PublicKeySize]byte
	DH   [KeySize]byte
	Sig  [SignatureSize]byte
}

// Public returns id's public identity, signed.
func (id Identity) Public() PublicIdentity {
	var p PublicIdentity
	copy(p.Sign[:], id.Sign.Public().(ed25519.PublicKey))
	p.DH = id.DH.Public
	copy(p.Sig[:], ed25519.Sign(id.Sign, append([]byte(identityContext), p.DH[:]...)))
	return p
}

// Verify checks the signature binding the X25519 key to the Ed25519 one.
func (p PublicIdentity) Verify() error {
	if !ed25519.Verify(p.Sign[:], append([]byte(identityContext), p.DH[:]...), p.Sig[:]) {
		return fmt.Errorf("%w: identity signature", ErrAuth)
	}
	return nil
}

// Encode returns the identity's fixed-size form.
func (p PublicIdentity) Encode() []byte {
	return slices.Concat(p.Sign[:], p.DH[:], p.Sig[:])
}

// DecodePublicIdentity parses and verifies an encoded identity.
func DecodePublicIdentity(b []byte) (PublicIdentity, error) {
	var p PublicIdentity
	if len(b) != PublicIdentitySize {
		return p, fmt.Errorf("%w: identity of %d bytes", ErrMalformed, len(b))
	}
	copy(p.Sign[:], b)
	copy(p.DH[:], b[ed25519.PublicKeySize:])
	copy(p.Sig[:], b[ed25519.PublicKeySize+KeySize:])
	return p, p.Verify()
}

// Bundle is what a party publishes so that others can start a session
// with it while it is offline: its identity and a signed prekey.
type Bundle struct {
	Identity  PublicIdentity
	PreKeyID  uint32
	PreKey    [KeySize]byte
	PreKeySig [SignatureSize]byte
}

// NewBundle signs preKey (numbered preKeyID) with id.
func NewBundle(id Identity, preKeyID uint32, preKey KeyPair) Bundle {
	b := Bundle{Identity: id.Public(), PreKeyID: preKeyID, PreKey: preKey.Public}
	copy(b.PreKeySig[:], ed25519.Sign(id.Sign, b.prekeyMessage()))
	return b
}

func (b Bundle) prekeyMessage() []byte {
	m := append([]byte(prekeyContext), b.Identity.DH[:]...)
	m = binary.BigEndian.AppendUint32(m, b.PreKeyID)
	return append(m, b.PreKey[:]...)
}

// Verify checks both of the bundle's signatures.
func (b Bundle) Verify() error {
	if err := b.Identity.Verify(); err != nil {
		return err
	}
	if !ed25519.Verify(b.Identity.Sign[:], b.prekeyMessage(), b.PreKeySig[:]) {
		return fmt.Errorf("%w: prekey signature", ErrAuth)
	}
	return nil
}

// Encode returns the bundle's fixed-size form.
func (b Bundle) Encode() []byte {
	out := b.Identity.Encode()
	out = binary.BigEndian.AppendUint32(out, b.PreKeyID)
	out = append(out, b.PreKey[:]...)
	return append(out, b.PreKeySig[:]...)
}

// DecodeBundle parses and verifies an encoded bundle.
func DecodeBundle(raw []byte) (Bundle, error) {
	var b Bundle
	if len(raw) != BundleSize {
		return b, fmt.Errorf("%w: bundle of %d bytes", ErrMalformed, len(raw))
	}
	id, err := DecodePublicIdentity(raw[:PublicIdentitySize])
	if err != nil {
		return b, err
	}
	b.Identity = id
	p := raw[PublicIdentitySize:]
	b.PreKeyID = binary.BigEndian.Uint32(p)
	copy(b.PreKey[:], p[4:])
	copy(b.PreKeySig[:], p[4+KeySize:])
	return b, b.Verify()
}

// Init is what Alice's first messages carry so that Bob can build the
// session: her ephemeral key, which of Bob's prekeys she used, and her
// public identity sealed to that prekey.
type Init struct {
	EK       [KeySize]byte
	PreKeyID uint32
	Sealed   []byte // PublicIdentitySize + AEAD overhead
}

// Encode returns the init's fixed-size form.
func (in Init) Encode() []byte {
	out := slices.Clone(in.EK[:])
	out = binary.BigEndian.AppendUint32(out, in.PreKeyID)
	return append(out, in.Sealed...)
}

// DecodeInit parses an encoded init (its sealed part is checked by [Respond]).
func DecodeInit(b []byte) (Init, error) {
	var in Init
	if len(b) != InitSize {
		return in, fmt.Errorf("%w: init of %d bytes", ErrMalformed, len(b))
	}
	copy(in.EK[:], b)
	in.PreKeyID = binary.BigEndian.Uint32(b[KeySize:])
	in.Sealed = slices.Clone(b[KeySize+4:])
	return in, nil
}

// Session is a started session: the ratchet state, a secret both sides
// share for purposes beyond the ratchet (package msg derives its
// mailbox tags from it), and the peer's identity.
type Session struct {
	State *State
	// Secret is HKDF(SK, "peerpath session secret"): independent of the
	// ratchet's keys, constant for the session.
	Secret [KeySize]byte
	Peer   PublicIdentity
}

// Start is Alice's side of X3DH: it checks Bob's bundle, agrees on SK and
// returns the session and the init her first messages must carry.
func Start(self Identity, bob Bundle, r io.Reader) (*Session, Init, error) {
	if err := bob.Verify(); err != nil {
		return nil, Init{}, err
	}
	ek, err := NewKeyPair(r)
	if err != nil {
		return nil, Init{}, err
	}
	dh1, err := DH(self.DH, bob.PreKey)
	if err != nil {
		return nil, Init{}, err
	}
	dh2, err := DH(ek, bob.Identity.DH)
	if err != nil {
		return nil, Init{}, err
	}
	dh3, err := DH(ek, bob.PreKey)
	if err != nil {
		return nil, Init{}, err
	}
	sk := x3dhKDF(dh1, dh2, dh3)
	me := self.Public()
	ad := slices.Concat(me.Sign[:], me.DH[:], bob.Identity.Sign[:], bob.Identity.DH[:])
	st, err := InitAlice(sk, bob.PreKey, ad, r)
	if err != nil {
		return nil, Init{}, err
	}
	in := Init{EK: ek.Public, PreKeyID: bob.PreKeyID, Sealed: sealIdentity(dh3, me.Encode(), nil)}
	return &Session{State: st, Secret: sessionSecret(sk), Peer: bob.Identity}, in, nil
}

// Respond is Bob's side: preKey returns his prekey numbered id (false if
// he no longer has it). It opens Alice's identity, checks its signature
// and builds the session. Alice is authenticated only once a message
// under the session decrypts (only she can have computed DH1).
func Respond(self Identity, preKey func(id uint32) (KeyPair, bool), in Init) (*Session, error) {
	spk, ok := preKey(in.PreKeyID)
	if !ok {
		return nil, fmt.Errorf("%w: unknown prekey %d", ErrAuth, in.PreKeyID)
	}
	dh3, err := DH(spk, in.EK)
	if err != nil {
		return nil, err
	}
	raw, err := openIdentity(dh3, in.Sealed)
	if err != nil {
		return nil, err
	}
	alice, err := DecodePublicIdentity(raw)
	if err != nil {
		return nil, err
	}
	dh1, err := DH(spk, alice.DH)
	if err != nil {
		return nil, err
	}
	dh2, err := DH(self.DH, in.EK)
	if err != nil {
		return nil, err
	}
	sk := x3dhKDF(dh1, dh2, dh3)
	me := self.Public()
	ad := slices.Concat(alice.Sign[:], alice.DH[:], me.Sign[:], me.DH[:])
	return &Session{State: InitBob(sk, spk, ad), Secret: sessionSecret(sk), Peer: alice}, nil
}

func x3dhKDF(dh ...[KeySize]byte) (sk [KeySize]byte) {
	ikm := make([]byte, KeySize, KeySize*(1+len(dh)))
	for i := range ikm {
		ikm[i] = 0xFF
	}
	for _, d := range dh {
		ikm = append(ikm, d[:]...)
	}
	io.ReadFull(hkdf.New(sha256.New, ikm, make([]byte, KeySize), []byte("peerpath x3dh v1")), sk[:])
	return sk
}

func sessionSecret(sk [KeySize]byte) (out [KeySize]byte) {
	io.ReadFull(hkdf.New(sha256.New, sk[:], nil, []byte("peerpath session secret")), out[:])
	return out
}

func sealKey(dh3 [KeySize]byte) []byte {
	k := make([]byte, chacha20poly1305.KeySize)
	io.ReadFull(hkdf.New(sha256.New, dh3[:], nil, []byte("peerpath x3dh seal")), k)
	return k
}

// sealIdentity encrypts Alice's identity under a key only EK's and SPK's
// owners can derive; EK is fresh, so a zero nonce is used once.
func sealIdentity(dh3 [KeySize]byte, pt, _ []byte) []byte {
	aead, _ := chacha20poly1305.New(sealKey(dh3))
	return aead.Seal(nil, make([]byte, chacha20poly1305.NonceSize), pt, nil)
}

func openIdentity(dh3 [KeySize]byte, ct []byte) ([]byte, error) {
	aead, _ := chacha20poly1305.New(sealKey(dh3))
	pt, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), ct, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed identity", ErrAuth)
	}
	return pt, nil
}
