package market

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"

	"filippo.io/age"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
)

// Content encryption: each listing's goods are encrypted with age to a
// fresh X25519 identity, and that identity's string form
// ("AGE-SECRET-KEY-1…") is the content key. age is authenticated, streams,
// and refuses any other key ("no identity matched"), so a peer that
// stores or relays the ciphertext learns nothing and a wrong key is
// detected. The listing commits to the key with SHA-256 of its string.

// newContentKey returns a fresh content key.
func newContentKey() (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("market: new content key: %w", err)
	}
	return id, nil
}

// commitment is the SHA-256 of the content key's string form.
func commitment(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// keyMatches reports whether key matches commit, in constant time.
func keyMatches(key string, commit []byte) bool {
	return subtle.ConstantTimeCompare(commitment(key), commit) == 1
}

// encryptTo encrypts src to w with the content key.
func encryptTo(w io.Writer, src io.Reader, key *age.X25519Identity) error {
	enc, err := age.Encrypt(w, key.Recipient())
	if err != nil {
		return fmt.Errorf("market: encrypt: %w", err)
	}
	if _, err := io.Copy(enc, src); err != nil {
		return fmt.Errorf("market: encrypt: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("market: encrypt: %w", err)
	}
	return nil
}

// decryptTo decrypts src with the content key string into w.
func decryptTo(w io.Writer, src io.Reader, key string) error {
	id, err := age.ParseX25519Identity(key)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWrongKey, err)
	}
	r, err := age.Decrypt(src, id)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWrongKey, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("market: decrypt: %w", err)
	}
	return nil
}

// --- sealing a content key to one X25519 public key ---
//
// seal is an anonymous sealed box: a fresh X25519 key pair, ECDH with the
// recipient, HKDF-SHA256 over the shared secret and both public keys, and
// XChaCha20-Poly1305 (the key is single-use, so the nonce is zero). The
// output is the ephemeral public key followed by the ciphertext.

const sealInfo = "peerpath/market/seal/v1"

func sealKey(shared, eph, recip []byte) ([]byte, error) {
	salt := append(append([]byte{}, eph...), recip...)
	return hkdf.Key(sha256.New, shared, salt, sealInfo, chacha20poly1305.KeySize)
}

// seal encrypts msg to the X25519 public key to.
func seal(to *ecdh.PublicKey, msg []byte) ([]byte, error) {
	eph, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("market: seal: %w", err)
	}
	shared, err := eph.ECDH(to)
	if err != nil {
		return nil, fmt.Errorf("market: seal: %w", err)
	}
	k, err := sealKey(shared, eph.PublicKey().Bytes(), to.Bytes())
	if err != nil {
		return nil, fmt.Errorf("market: seal: %w", err)
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, fmt.Errorf("market: seal: %w", err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	return aead.Seal(eph.PublicKey().Bytes(), nonce, msg, nil), nil
}

// open decrypts a sealed box with the recipient's private key.
func open(priv *ecdh.PrivateKey, box []byte) ([]byte, error) {
	if len(box) < 32+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: sealed key of %d bytes", ErrWrongKey, len(box))
	}
	ephPub, err := ecdh.X25519().NewPublicKey(box[:32])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongKey, err)
	}
	shared, err := priv.ECDH(ephPub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongKey, err)
	}
	k, err := sealKey(shared, box[:32], priv.PublicKey().Bytes())
	if err != nil {
		return nil, fmt.Errorf("market: open: %w", err)
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, fmt.Errorf("market: open: %w", err)
	}
	msg, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSizeX), box[32:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed key does not open", ErrWrongKey)
	}
	return msg, nil
}

// --- X25519 keys from the nodes' Ed25519 identities ---
//
// A voter needs no extra key: its X25519 key is derived from its Ed25519
// identity the standard way (the Montgomery form of the public point,
// u = (1+y)/(1-y) mod 2^255-19; the private scalar is the first half of
// SHA-512 of the seed, as Ed25519 itself uses it), so a seller seals to
// a voter knowing only its peer ID.

var fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// x25519FromPeer converts an Ed25519 peer ID's public key to X25519.
func x25519FromPeer(id string) (*ecdh.PublicKey, error) {
	pid, err := peer.Decode(id)
	if err != nil {
		return nil, fmt.Errorf("market: peer id %q: %w", id, err)
	}
	pk, err := pid.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("market: peer id %s has no public key: %w", id, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("market: peer %s: only Ed25519 identities can receive keys", id)
	}
	raw, err := pk.Raw()
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("market: peer %s: bad Ed25519 key", id)
	}
	le := bytes.Clone(raw)
	le[31] &= 0x7f
	y := new(big.Int).SetBytes(reverse(le))
	if y.Cmp(fieldP) >= 0 {
		return nil, fmt.Errorf("market: peer %s: bad Ed25519 key", id)
	}
	num := new(big.Int).Add(big.NewInt(1), y)
	den := new(big.Int).Sub(big.NewInt(1), y)
	den.Mod(den, fieldP)
	inv := new(big.Int).ModInverse(den, fieldP)
	if inv == nil {
		return nil, fmt.Errorf("market: peer %s: Ed25519 key has no X25519 form", id)
	}
	u := num.Mul(num, inv)
	u.Mod(u, fieldP)
	out := make([]byte, 32)
	u.FillBytes(out)
	pub, err := ecdh.X25519().NewPublicKey(reverse(out))
	if err != nil {
		return nil, fmt.Errorf("market: peer %s: %w", id, err)
	}
	return pub, nil
}

// x25519FromKey derives the X25519 private key of an Ed25519 identity.
func x25519FromKey(key crypto.PrivKey) (*ecdh.PrivateKey, error) {
	if key.Type() != crypto.Ed25519 {
		return nil, errors.New("market: the node key must be Ed25519")
	}
	raw, err := key.Raw()
	if err != nil || len(raw) < 32 {
		return nil, errors.New("market: bad Ed25519 node key")
	}
	h := sha512.Sum512(raw[:32])
	return ecdh.X25519().NewPrivateKey(h[:32])
}

// orderKey derives the buyer's one-time X25519 key for an order from the
// node key, so nothing secret needs storing and a restart loses nothing.
func orderKey(key crypto.PrivKey, orderID string) (*ecdh.PrivateKey, error) {
	raw, err := key.Raw()
	if err != nil || len(raw) < 32 {
		return nil, errors.New("market: bad node key")
	}
	k, err := hkdf.Key(sha256.New, raw[:32], []byte(orderID), "peerpath/market/order-key/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("market: order key: %w", err)
	}
	return ecdh.X25519().NewPrivateKey(k)
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

// settleID is the ledger transfer ID of an order's settlement: the same on
// every voter and every retry, so an order settles once.
func settleID(orderID string) string {
	sum := sha256.Sum256([]byte("peerpath-market-settle\x00" + orderID))
	return hex.EncodeToString(sum[:16])
}
