package publish

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// A record is what storing peers keep for a document: which version is
// current, sealed so that only a URL's holder can read it, and signed by
// the document's private key so that only the publisher can change it.
//
//	version(1) op(1) locator(32) seq(8) expires(8) len(2) sealed(len) signature(64)
//
// The signature covers "peerpath-publish-record-v1\x00" and every byte
// before it. A storing peer checks it against the locator (the public
// key) and keeps the record with the highest seq; it never learns the
// private key, and nothing it holds lets it sign.
type record struct {
	Op      byte
	Loc     Locator
	Seq     uint64
	Expires int64 // unix seconds: the holder drops the record after this and a grace period
	Sealed  []byte
	Sig     [ed25519.SignatureSize]byte
}

// Record ops.
const (
	opPublish byte = 1 // the sealed body names the current version
	opDelete  byte = 2 // a tombstone: the document is gone for good
)

const (
	recordVersion = 1
	recordHeader  = 1 + 1 + 32 + 8 + 8 + 2
	// MaxSealed bounds a record's sealed body (a storage reference at
	// n = 32 with holders is about 4.3 KiB of base64).
	MaxSealed = 6 << 10
	// MaxRecord bounds an encoded record.
	MaxRecord = recordHeader + MaxSealed + ed25519.SignatureSize
)

var recordDomain = []byte("peerpath-publish-record-v1\x00")

// ErrBadRecord is wrapped by every error of decoding or checking a record.
var ErrBadRecord = errors.New("publish: malformed record")

// ErrBadSignature is returned for a record its locator did not sign.
var ErrBadSignature = errors.New("publish: bad signature: not signed by the document's key")

func (r *record) header() []byte {
	b := make([]byte, 0, recordHeader+len(r.Sealed)+ed25519.SignatureSize)
	b = append(b, recordVersion, r.Op)
	b = append(b, r.Loc[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires))
	return binary.BigEndian.AppendUint16(b, uint16(len(r.Sealed)))
}

// signed returns the bytes the signature covers.
func (r *record) signed() []byte {
	b := append([]byte(nil), recordDomain...)
	b = append(b, r.header()...)
	return append(b, r.Sealed...)
}

func (r *record) sign(priv ed25519.PrivateKey) {
	copy(r.Sig[:], ed25519.Sign(priv, r.signed()))
}

// verify checks the signature against the locator.
func (r *record) verify() error {
	if !ed25519.Verify(ed25519.PublicKey(r.Loc[:]), r.signed(), r.Sig[:]) {
		return ErrBadSignature
	}
	return nil
}

func (r *record) encode() []byte {
	b := append(r.header(), r.Sealed...)
	return append(b, r.Sig[:]...)
}

// decodeRecord decodes a record from a peer (a storing peer reads it from
// a publisher, a fetcher from a storing peer). It checks the shape only;
// the caller checks the signature.
func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) < recordHeader+ed25519.SignatureSize || len(b) > MaxRecord {
		return r, fmt.Errorf("%w: %d bytes", ErrBadRecord, len(b))
	}
	if b[0] != recordVersion {
		return r, fmt.Errorf("%w: version %d", ErrBadRecord, b[0])
	}
	r.Op = b[1]
	if r.Op != opPublish && r.Op != opDelete {
		return r, fmt.Errorf("%w: op %d", ErrBadRecord, r.Op)
	}
	copy(r.Loc[:], b[2:])
	r.Seq = binary.BigEndian.Uint64(b[34:])
	exp := binary.BigEndian.Uint64(b[42:])
	if exp > 1<<62 {
		return record{}, fmt.Errorf("%w: expiry", ErrBadRecord)
	}
	r.Expires = int64(exp)
	n := int(binary.BigEndian.Uint16(b[50:]))
	b = b[recordHeader:]
	if n > MaxSealed || len(b) != n+ed25519.SignatureSize {
		return record{}, fmt.Errorf("%w: body of %d bytes, %d left", ErrBadRecord, n, len(b))
	}
	if (r.Op == opDelete) != (n == 0) {
		return record{}, fmt.Errorf("%w: op %d with a body of %d bytes", ErrBadRecord, r.Op, n)
	}
	if n > 0 {
		r.Sealed = append([]byte(nil), b[:n]...)
	}
	copy(r.Sig[:], b[n:])
	return r, nil
}

// body is a record's sealed content: what only a URL's holder reads.
type body struct {
	Ref  string `json:"ref"`  // the storage reference of the current version (its key included)
	CID  string `json:"cid"`  // the plaintext's content id, as `peerpath share` would name it
	Name string `json:"name"` // the file's name when published
	Size int64  `json:"size"`
	K    int    `json:"k"`
	N    int    `json:"n"`
}

// seal encrypts b under the URL's key with XChaCha20-Poly1305 (a random
// nonce), bound to the record's header so it cannot be moved to another
// record or version.
func seal(key *[32]byte, r *record, b body) ([]byte, error) {
	plain, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	a, _ := chacha20poly1305.NewX(key[:])
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := a.Seal(nonce, nonce, plain, sealAD(r))
	if len(out) > MaxSealed {
		return nil, fmt.Errorf("publish: record body of %d bytes is over %d", len(out), MaxSealed)
	}
	return out, nil
}

// sealAD is what the body is bound to: the record's op, locator and seq
// (a renewal is a new seq, sealed again).
func sealAD(r *record) []byte {
	b := append([]byte("peerpath-publish-body-v1\x00"), r.Op)
	b = append(b, r.Loc[:]...)
	return binary.BigEndian.AppendUint64(b, r.Seq)
}

// open decrypts and decodes a record's body. It is the edge where the
// publisher's (signed but possibly hostile) content enters a fetcher.
func open(key *[32]byte, r *record) (body, error) {
	var b body
	a, _ := chacha20poly1305.NewX(key[:])
	if len(r.Sealed) < a.NonceSize()+a.Overhead() {
		return b, fmt.Errorf("%w: body too short", ErrBadRecord)
	}
	ns := a.NonceSize()
	plain, err := a.Open(nil, r.Sealed[:ns], r.Sealed[ns:], sealAD(r))
	if err != nil {
		return b, fmt.Errorf("%w: the URL's key does not open it", ErrBadRecord)
	}
	if err := json.Unmarshal(plain, &b); err != nil {
		return body{}, fmt.Errorf("%w: body: %w", ErrBadRecord, err)
	}
	if b.Ref == "" || b.Size < 0 || b.K < 1 || b.N <= b.K || b.N > 32 || len(b.Name) > 255 {
		return body{}, fmt.Errorf("%w: body fields", ErrBadRecord)
	}
	return b, nil
}
