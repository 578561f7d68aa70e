package storage

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"
)

// Ref is everything needed to get an object back: its coding (k of n), the
// size of its ciphertext, the key that decrypts it, the id of each share
// and, as hints, the peer that first held each share. Whoever holds a Ref
// can read the object, so a Ref is a capability: it stays in the owner's
// home or inside other encrypted objects (a backup's manifest), and is
// never sent to a storing peer.
//
// Holders are hints only: a share whose holder is gone (or was replaced by
// a repair) is looked for through the DHT's provider records of its id.
type Ref struct {
	K, N    int
	Size    int // bytes of ciphertext (padded plaintext + tag)
	Key     [32]byte
	Shares  []ShareID // N ids
	Holders []string  // N peer IDs ("" when unknown)
}

// ShareSize is the size of each of the object's shares.
func (r Ref) ShareSize() int { return (r.Size + r.K - 1) / r.K }

// ObjectID names the object among its owner's: a hash of its share ids
// (not of its key, so it can be shown and logged).
func (r Ref) ObjectID() ShareID {
	h := blake3.New()
	h.Write([]byte("peerpath-object-v1"))
	for _, s := range r.Shares {
		h.Write(s[:])
	}
	var id ShareID
	h.Sum(id[:0])
	return id
}

const (
	refVersion   = 1
	maxHolderLen = 64 // a peer ID's bytes are ~38
	// MaxRefSize bounds an encoded Ref.
	MaxRefSize = 4 + 2*binVarint + 32 + MaxShares*(32+1+maxHolderLen)
	binVarint  = binary.MaxVarintLen64
)

// MarshalBinary encodes r compactly.
func (r Ref) MarshalBinary() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+r.N*72)
	b = append(b, refVersion, byte(r.K), byte(r.N))
	b = binary.AppendUvarint(b, uint64(r.Size))
	b = append(b, r.Key[:]...)
	for _, s := range r.Shares {
		b = append(b, s[:]...)
	}
	for _, h := range r.Holders {
		var raw []byte
		if h != "" {
			id, err := peer.Decode(h)
			if err != nil {
				return nil, fmt.Errorf("%w: holder %q", ErrBadRef, h)
			}
			raw = []byte(id)
		}
		b = append(b, byte(len(raw)))
		b = append(b, raw...)
	}
	return b, nil
}

// check validates a Ref's shape.
func (r Ref) check() error {
	if err := checkKN(r.K, r.N); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRef, err)
	}
	if r.Size < minPadded+16 || r.Size > sealedSize(MaxObjectSize) || r.ShareSize() > MaxShareSize {
		return fmt.Errorf("%w: size %d", ErrBadRef, r.Size)
	}
	if len(r.Shares) != r.N || (len(r.Holders) != 0 && len(r.Holders) != r.N) {
		return fmt.Errorf("%w: %d share ids, %d holders for n=%d", ErrBadRef, len(r.Shares), len(r.Holders), r.N)
	}
	return nil
}

// UnmarshalRef decodes what [Ref.MarshalBinary] made. It is the edge where
// a capability someone pasted enters: every field is bounded and checked.
func UnmarshalRef(b []byte) (Ref, error) {
	var r Ref
	if len(b) > MaxRefSize || len(b) < 3 || b[0] != refVersion {
		return r, fmt.Errorf("%w: version or length", ErrBadRef)
	}
	r.K, r.N = int(b[1]), int(b[2])
	if err := checkKN(r.K, r.N); err != nil {
		return Ref{}, fmt.Errorf("%w: %w", ErrBadRef, err)
	}
	b = b[3:]
	size, k := binary.Uvarint(b)
	if k <= 0 || size > uint64(sealedSize(MaxObjectSize)) {
		return Ref{}, fmt.Errorf("%w: size", ErrBadRef)
	}
	r.Size = int(size)
	b = b[k:]
	if len(b) < 32+32*r.N {
		return Ref{}, fmt.Errorf("%w: truncated", ErrBadRef)
	}
	copy(r.Key[:], b)
	b = b[32:]
	r.Shares = make([]ShareID, r.N)
	for i := range r.Shares {
		copy(r.Shares[i][:], b)
		b = b[32:]
	}
	r.Holders = make([]string, r.N)
	for i := range r.Holders {
		if len(b) < 1 || int(b[0]) > maxHolderLen || len(b) < 1+int(b[0]) {
			return Ref{}, fmt.Errorf("%w: holder %d", ErrBadRef, i)
		}
		raw := b[1 : 1+int(b[0])]
		b = b[1+int(b[0]):]
		if len(raw) == 0 {
			continue
		}
		id, err := peer.IDFromBytes(raw)
		if err != nil {
			return Ref{}, fmt.Errorf("%w: holder %d: %w", ErrBadRef, i, err)
		}
		r.Holders[i] = id.String()
	}
	if len(b) != 0 {
		return Ref{}, fmt.Errorf("%w: %d trailing bytes", ErrBadRef, len(b))
	}
	if err := r.check(); err != nil {
		return Ref{}, err
	}
	return r, nil
}

// String encodes r as unpadded base64url.
func (r Ref) String() string {
	b, err := r.MarshalBinary()
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseRef decodes what [Ref.String] made.
func ParseRef(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if len(s) > base64.RawURLEncoding.EncodedLen(MaxRefSize) {
		return Ref{}, fmt.Errorf("%w: too long", ErrBadRef)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Ref{}, fmt.Errorf("%w: %w", ErrBadRef, err)
	}
	return UnmarshalRef(b)
}

// holder returns the recorded holder of share i ("" when none).
func (r Ref) holder(i int) string {
	if i < len(r.Holders) {
		return r.Holders[i]
	}
	return ""
}
