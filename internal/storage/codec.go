package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/klauspost/reedsolomon"
	"github.com/zeebo/blake3"
)

// Limits of the codec. A storing peer enforces MaxShareSize on every share
// it is offered, whatever the sender says; the owner's side enforces the
// others on objects and references it decodes.
const (
	// SegmentSize is the unit of a share that challenges ask for: a
	// share's id commits to the BLAKE3 hash of each of its segments.
	SegmentSize = 16 << 10
	// MaxShareSize is the largest share a storing peer accepts or a client
	// reads back.
	MaxShareSize = 4 << 20
	// MaxShares bounds n, the number of shares of one object.
	MaxShares = 32
	// MaxObjectSize is the largest plaintext one object holds.
	MaxObjectSize = 32 << 20
	// minPadded is the smallest padded frame: every object, even an empty
	// one, looks at least this large to a storing peer.
	minPadded = 4 << 10
	// frameHeader is the plaintext length in front of the padded frame.
	frameHeader = 8
)

// Errors of the codec.
var (
	// ErrCorrupt is returned when a share does not match its id or an
	// object does not decrypt: a storing peer altered or lost its bytes.
	ErrCorrupt = errors.New("storage: share or object corrupt")
	// ErrTooFewShares is returned when fewer than k verified shares of an
	// object could be had.
	ErrTooFewShares = errors.New("storage: too few shares to rebuild the object")
	// ErrBadRef is returned for a reference (or capability) that does not
	// decode.
	ErrBadRef = errors.New("storage: malformed reference")
	// ErrInvalid is returned for parameters out of range (k, n, sizes).
	ErrInvalid = errors.New("storage: invalid request")
)

// ShareID names a share: the BLAKE3 hash of its segments' BLAKE3 hashes
// (see [HashShare]). It says nothing of the object, its owner or its other
// shares, because the share is ciphertext under a key only the owner holds.
type ShareID [32]byte

// String returns the id in hex.
func (id ShareID) String() string { return hex.EncodeToString(id[:]) }

// ParseShareID parses a hex share id.
func ParseShareID(s string) (ShareID, error) {
	var id ShareID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: share id %q", ErrBadRef, s)
	}
	copy(id[:], b)
	return id, nil
}

// segments returns how many segments a share of size bytes has (at least
// one, so an empty share still has a root).
func segments(size int) int {
	if size <= 0 {
		return 1
	}
	return (size + SegmentSize - 1) / SegmentSize
}

// SegmentHashes returns the BLAKE3 hash of each SegmentSize piece of b.
func SegmentHashes(b []byte) [][32]byte {
	return segmentHashesInto(make([][32]byte, 0, segments(len(b))), b)
}

// rootOf is the share id committed to by a list of segment hashes.
func rootOf(hashes [][32]byte) ShareID {
	h := blake3.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(hashes)))
	h.Write([]byte("peerpath-share-v1"))
	h.Write(n[:])
	for i := range hashes {
		h.Write(hashes[i][:])
	}
	var id ShareID
	h.Sum(id[:0])
	return id
}

// HashShare returns a share's id. It is a two-level hash, so that a
// storing peer can prove it holds any one segment by sending the segment
// and the list of segment hashes, which the verifier checks against the id
// alone: whoever knows a share id can challenge its holder.
func HashShare(b []byte) ShareID {
	var hashes [MaxShareSize / SegmentSize][32]byte
	if segments(len(b)) > len(hashes) {
		return rootOf(SegmentHashes(b))
	}
	return rootOf(segmentHashesInto(hashes[:0], b))
}

// VerifySegment checks a challenge answer: hashes must commit to id, and
// seg must be segment idx of a share of shareSize bytes with hashes[idx]
// as its hash.
func VerifySegment(id ShareID, shareSize int, hashes [][32]byte, idx int, seg []byte) error {
	if len(hashes) != segments(shareSize) || idx < 0 || idx >= len(hashes) {
		return fmt.Errorf("%w: %d segment hashes for a %d-byte share", ErrCorrupt, len(hashes), shareSize)
	}
	if rootOf(hashes) != id {
		return fmt.Errorf("%w: segment hashes do not match share %s", ErrCorrupt, id)
	}
	want := min(SegmentSize, shareSize-idx*SegmentSize)
	if shareSize == 0 {
		want = 0
	}
	if len(seg) != want || blake3.Sum256(seg) != hashes[idx] {
		return fmt.Errorf("%w: segment %d of share %s", ErrCorrupt, idx, id)
	}
	return nil
}

// PaddedSize is the frame size a plaintext of n bytes is padded to before
// encryption: at least 4 KiB, then the next multiple of a sixteenth of
// the power of two below it, so a storing peer learns a size only to
// within 6.25% (and the padding costs 3% on average).
func PaddedSize(n int) int {
	x := n + frameHeader
	if x <= minPadded {
		return minPadded
	}
	e := bits.Len(uint(x)) - 1
	step := 1 << (e - 4)
	return (x + step - 1) / step * step
}

// sealedSize is the ciphertext size of an n-byte plaintext.
func sealedSize(n int) int { return PaddedSize(n) + 16 }

// ShareSize is the size of each share of an n-byte plaintext coded k-of-n.
func ShareSize(plainSize, k int) int { return (sealedSize(plainSize) + k - 1) / k }

// zeroNonce is the nonce of every seal: each key seals exactly one frame.
var zeroNonce [12]byte

func aead(key *[32]byte) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

// Seal pads plain and encrypts it with AES-256-GCM under key. Each key
// must seal one plaintext only (the nonce is fixed): [EncodeObject] draws a
// fresh random key per object.
func Seal(key *[32]byte, plain []byte) []byte {
	p := PaddedSize(len(plain))
	frame := make([]byte, p, p+16)
	binary.BigEndian.PutUint64(frame, uint64(len(plain)))
	copy(frame[frameHeader:], plain)
	return aead(key).Seal(frame[:0], zeroNonce[:], frame, nil)
}

// SealInPlace encrypts frame in place with AES-256-GCM under key and
// returns it with the tag appended (within frame's capacity when it has
// 16 bytes to spare): the AEAD work of [Encoder.Encode], for measuring it
// alone. Each key must seal one frame only.
func SealInPlace(key *[32]byte, frame []byte) []byte {
	return aead(key).Seal(frame[:0], zeroNonce[:], frame, nil)
}

// Open decrypts and unpads what [Seal] made.
func Open(key *[32]byte, sealed []byte) ([]byte, error) {
	return openInto(key, nil, sealed)
}

// openInPlace is Open decrypting over sealed itself: the plaintext it
// returns aliases sealed.
func openInPlace(key *[32]byte, sealed []byte) ([]byte, error) {
	return openInto(key, sealed[:0], sealed)
}

func openInto(key *[32]byte, dst, sealed []byte) ([]byte, error) {
	frame, err := aead(key).Open(dst, zeroNonce[:], sealed, nil)
	if err != nil || len(frame) < frameHeader {
		return nil, fmt.Errorf("%w: object does not decrypt", ErrCorrupt)
	}
	n := binary.BigEndian.Uint64(frame)
	if n > uint64(len(frame)-frameHeader) {
		return nil, fmt.Errorf("%w: bad frame length", ErrCorrupt)
	}
	return frame[frameHeader : frameHeader+int(n)], nil
}

var (
	codersMu sync.Mutex
	coders   = map[[2]int]reedsolomon.Encoder{}
)

// coder returns a (cached) Reed-Solomon coder for k-of-n.
func coder(k, n int) (reedsolomon.Encoder, error) {
	if err := checkKN(k, n); err != nil {
		return nil, err
	}
	codersMu.Lock()
	defer codersMu.Unlock()
	if c, ok := coders[[2]int{k, n}]; ok {
		return c, nil
	}
	c, err := reedsolomon.New(k, n-k)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	coders[[2]int{k, n}] = c
	return c, nil
}

func checkKN(k, n int) error {
	if k < 1 || n <= k || n > MaxShares {
		return fmt.Errorf("%w: k=%d n=%d (want 1 ≤ k < n ≤ %d)", ErrInvalid, k, n, MaxShares)
	}
	return nil
}

// Split codes sealed into n shares of which any k rebuild it.
func Split(sealed []byte, k, n int) ([][]byte, error) {
	c, err := coder(k, n)
	if err != nil {
		return nil, err
	}
	size := (len(sealed) + k - 1) / k
	if size > MaxShareSize {
		return nil, fmt.Errorf("%w: shares of %d bytes (limit %d)", ErrInvalid, size, MaxShareSize)
	}
	buf := make([]byte, size*n)
	copy(buf, sealed)
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}
	if err := c.Encode(shares); err != nil {
		return nil, fmt.Errorf("storage: encode: %w", err)
	}
	return shares, nil
}

// EncodeObject encrypts plain under a fresh random key, codes it k-of-n
// and names each share: the whole pipeline before placement. The
// reference it returns holds the key and every share id, no holders. The
// shares are in one fresh buffer; an [Encoder] reuses its buffer instead.
func EncodeObject(plain []byte, k, n int) (Ref, [][]byte, error) {
	var e Encoder
	return e.Encode(plain, k, n)
}

// Encoder runs [EncodeObject] in a buffer it keeps, so a stream of objects
// costs no allocation and no fresh memory per object: the plaintext is
// copied once, into the frame inside the first k shares, sealed in place,
// coded into the parity shares and hashed. The shares an Encode returns
// are valid until the next Encode. An Encoder is not safe for concurrent
// use; the zero value is ready.
type Encoder struct {
	buf []byte
}

// Encode is [EncodeObject] in e's buffer.
func (e *Encoder) Encode(plain []byte, k, n int) (Ref, [][]byte, error) {
	if len(plain) > MaxObjectSize {
		return Ref{}, nil, fmt.Errorf("%w: object of %d bytes (limit %d)", ErrInvalid, len(plain), MaxObjectSize)
	}
	c, err := coder(k, n)
	if err != nil {
		return Ref{}, nil, err
	}
	ref := Ref{K: k, N: n}
	rand.Read(ref.Key[:])
	p := PaddedSize(len(plain))
	ref.Size = p + 16
	size := ref.ShareSize()
	if size > MaxShareSize {
		return Ref{}, nil, fmt.Errorf("%w: shares of %d bytes (limit %d)", ErrInvalid, size, MaxShareSize)
	}
	if cap(e.buf) < size*n {
		e.buf = make([]byte, size*n)
	}
	buf := e.buf[:size*n]
	// The frame: length, plaintext, zero padding; sealed in place, then
	// zeros to the end of the last data share.
	binary.BigEndian.PutUint64(buf, uint64(len(plain)))
	copy(buf[frameHeader:], plain)
	clear(buf[frameHeader+len(plain) : p])
	aead(&ref.Key).Seal(buf[:0], zeroNonce[:], buf[:p], nil)
	clear(buf[ref.Size : size*k])
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}
	if err := c.Encode(shares); err != nil {
		return Ref{}, nil, fmt.Errorf("storage: encode: %w", err)
	}
	ref.Shares = make([]ShareID, n)
	var hashes [MaxShareSize / SegmentSize][32]byte
	for i, sh := range shares {
		ref.Shares[i] = rootOf(segmentHashesInto(hashes[:0], sh))
	}
	ref.Holders = make([]string, n)
	return ref, shares, nil
}

// segmentHashesInto appends the BLAKE3 hash of each SegmentSize piece of b
// to out.
func segmentHashesInto(out [][32]byte, b []byte) [][32]byte {
	for i := range segments(len(b)) {
		lo := i * SegmentSize
		hi := min(lo+SegmentSize, len(b))
		out = append(out, blake3.Sum256(b[lo:hi]))
	}
	return out
}

// Rebuild fills the missing (nil) entries of shares from any k present
// ones, after checking every present share against the reference: a share
// that does not match its id is treated as missing. Rebuilt shares are
// checked too, so what Rebuild returns is exactly what was first placed.
func Rebuild(ref Ref, shares [][]byte) error {
	if len(shares) != ref.N {
		return fmt.Errorf("%w: %d shares for n=%d", ErrInvalid, len(shares), ref.N)
	}
	c, err := coder(ref.K, ref.N)
	if err != nil {
		return err
	}
	size := ref.ShareSize()
	have := 0
	for i, s := range shares {
		if s == nil {
			continue
		}
		if len(s) != size || HashShare(s) != ref.Shares[i] {
			shares[i] = nil
			continue
		}
		have++
	}
	if have < ref.K {
		return fmt.Errorf("%w: %d of %d verified, need %d", ErrTooFewShares, have, ref.N, ref.K)
	}
	if have == ref.N {
		return nil
	}
	if err := c.Reconstruct(shares); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	for i, s := range shares {
		if HashShare(s) != ref.Shares[i] {
			return fmt.Errorf("%w: rebuilt share %d does not match its id", ErrCorrupt, i)
		}
	}
	return nil
}

// DecodeObject rebuilds and decrypts an object from any k of its shares
// (nil for missing ones); every share is checked against its id first.
func DecodeObject(ref Ref, shares [][]byte) ([]byte, error) {
	if len(shares) != ref.N {
		return nil, fmt.Errorf("%w: %d shares for n=%d", ErrInvalid, len(shares), ref.N)
	}
	c, err := coder(ref.K, ref.N)
	if err != nil {
		return nil, err
	}
	size := ref.ShareSize()
	have := 0
	work := make([][]byte, ref.N)
	for i, s := range shares {
		if s != nil && len(s) == size && HashShare(s) == ref.Shares[i] {
			work[i] = s
			have++
		}
	}
	if have < ref.K {
		return nil, fmt.Errorf("%w: %d of %d verified, need %d", ErrTooFewShares, have, ref.N, ref.K)
	}
	if err := c.ReconstructData(work); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	sealed := make([]byte, 0, size*ref.K)
	for i := 0; i < ref.K; i++ {
		sealed = append(sealed, work[i]...)
	}
	return openInPlace(&ref.Key, sealed[:ref.Size])
}

// openFetched rebuilds and decrypts an object whose shares fetch checked
// against their ids as they arrived (so they are not hashed again here).
// data holds the K data shares in place, those fetched and room for the
// missing ones, which are rebuilt into their place: data is then the
// sealed object, opened in place.
func openFetched(ref Ref, shares [][]byte, data []byte) ([]byte, error) {
	c, err := coder(ref.K, ref.N)
	if err != nil {
		return nil, err
	}
	size := ref.ShareSize()
	if len(shares) != ref.N || len(data) != size*ref.K {
		return nil, fmt.Errorf("%w: %d shares, %d bytes for n=%d", ErrInvalid, len(shares), len(data), ref.N)
	}
	work := make([][]byte, ref.N)
	have := 0
	for i, sh := range shares {
		switch {
		case sh != nil:
			work[i] = sh
			have++
		case i < ref.K:
			work[i] = data[i*size : i*size : (i+1)*size]
		}
	}
	if have < ref.K {
		return nil, fmt.Errorf("%w: %d of %d verified, need %d", ErrTooFewShares, have, ref.N, ref.K)
	}
	if err := c.ReconstructData(work); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	for i := range ref.K {
		if slot := data[i*size : (i+1)*size]; len(work[i]) != size || &work[i][0] != &slot[0] {
			copy(slot, work[i]) // not in place (never, with fetch's buffers)
		}
	}
	return openInPlace(&ref.Key, data[:ref.Size])
}
