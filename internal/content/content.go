// Package content names content by its bytes: content ids (CIDv1 with a
// BLAKE3-256 multihash), fixed-size chunking, file and folder manifests in a
// compact canonical binary form, and fast parallel hashing of files.
//
// The package is pure: it does no network or database I/O, and reads the
// local file system only in [HashFile] and [BuildDir].
//
// Every decoder here ([DecodeFileManifest], [DecodeDirManifest], [Decode])
// treats its input as hostile: sizes are bounded before anything is
// allocated, counts must agree with sizes, encodings must be canonical (one
// manifest has exactly one encoding, so one id), and names from folder
// manifests are checked with [ValidName] so none can escape a download
// directory.
package content

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/zeebo/blake3"
)

// DefaultChunkSize is the chunk size used when none is given: 1 MiB.
const DefaultChunkSize = 1 << 20

// Multicodec codes used in content ids.
const (
	// CodecRaw marks a chunk: raw bytes of a file.
	CodecRaw = 0x55
	// CodecFile marks an encoded [FileManifest] (private-use multicodec).
	CodecFile = 0x300001
	// CodecDir marks an encoded [DirManifest] (private-use multicodec).
	CodecDir = 0x300002
)

// MhBLAKE3 is the multihash code of BLAKE3; ids here always carry a 32-byte
// digest.
const MhBLAKE3 = 0x1e

// DigestSize is the length of a BLAKE3-256 digest.
const DigestSize = 32

// ErrHashMismatch is returned (wrapped) by [Verify], [Decode] and
// [FileManifest.VerifyChunk] when data does not hash to the expected id, or
// the id is not a BLAKE3-256 id at all. Services that serve or store chunks
// (share, transfer) wrap it too when bytes on disk no longer match.
var ErrHashMismatch = errors.New("content: hash mismatch")

// NewID returns the CIDv1 of data under codec, with a BLAKE3-256 multihash.
func NewID(codec uint64, data []byte) cid.Cid {
	return IDFromDigest(codec, blake3.Sum256(data))
}

// IDFromDigest returns the CIDv1 for a BLAKE3-256 digest computed elsewhere
// (for example while streaming).
func IDFromDigest(codec uint64, digest [DigestSize]byte) cid.Cid {
	var buf [2 + DigestSize]byte
	buf[0] = MhBLAKE3
	buf[1] = DigestSize
	copy(buf[2:], digest[:])
	return cid.NewCidV1(codec, mh.Multihash(buf[:]))
}

// ChunkID returns the id of a chunk: NewID(CodecRaw, data).
func ChunkID(data []byte) cid.Cid { return NewID(CodecRaw, data) }

// Digest returns the BLAKE3-256 digest carried by id, or an error wrapping
// [ErrHashMismatch] if id is undefined or not a BLAKE3-256 CIDv1.
func Digest(id cid.Cid) ([DigestSize]byte, error) {
	var d [DigestSize]byte
	if !id.Defined() || id.Version() != 1 {
		return d, fmt.Errorf("%w: not a CIDv1", ErrHashMismatch)
	}
	h := id.Hash()
	if len(h) != 2+DigestSize || h[0] != MhBLAKE3 || h[1] != DigestSize {
		return d, fmt.Errorf("%w: id %s is not a blake3-256 id", ErrHashMismatch, id)
	}
	copy(d[:], h[2:])
	return d, nil
}

// Verify reports whether data hashes to id. It returns an error wrapping
// [ErrHashMismatch] if it does not, or if id is not a BLAKE3-256 CIDv1. The
// codec of id is not checked; use [Decode] to also interpret manifests.
func Verify(id cid.Cid, data []byte) error {
	want, err := Digest(id)
	if err != nil {
		return err
	}
	if blake3.Sum256(data) != want {
		return fmt.Errorf("%w: %d bytes do not hash to %s", ErrHashMismatch, len(data), id)
	}
	return nil
}

// IsFile reports whether id names a file manifest.
func IsFile(id cid.Cid) bool { return id.Defined() && id.Type() == CodecFile }

// IsDir reports whether id names a folder manifest.
func IsDir(id cid.Cid) bool { return id.Defined() && id.Type() == CodecDir }

// IsChunk reports whether id names a raw chunk.
func IsChunk(id cid.Cid) bool { return id.Defined() && id.Type() == CodecRaw }

// ErrManifestTooLarge is returned (wrapped) by [Decode] and the manifest
// decoders when encoded bytes exceed [MaxManifestSize]; callers reading a
// manifest from the network should check the announced size against
// MaxManifestSize before reading.
var ErrManifestTooLarge = errors.New("content: manifest too large")

// ErrBadManifest is returned (wrapped, with the reason) by
// [DecodeFileManifest], [DecodeDirManifest] and [Decode] for malformed,
// non-canonical or out-of-bounds manifests, and by [Decode] for an id whose
// codec is not a manifest codec.
var ErrBadManifest = errors.New("content: bad manifest")

// Decode verifies that data hashes to id and then decodes it according to
// id's codec, returning a *[FileManifest] (CodecFile) or a *[DirManifest]
// (CodecDir).
func Decode(id cid.Cid, data []byte) (any, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrManifestTooLarge, len(data), MaxManifestSize)
	}
	if err := Verify(id, data); err != nil {
		return nil, err
	}
	switch id.Type() {
	case CodecFile:
		return DecodeFileManifest(data)
	case CodecDir:
		return DecodeDirManifest(data)
	default:
		return nil, fmt.Errorf("%w: codec 0x%x is not a manifest", ErrBadManifest, id.Type())
	}
}
