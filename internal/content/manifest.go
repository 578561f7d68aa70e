package content

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// Bounds enforced by the decoders. A manifest outside them is refused, so
// a hostile peer cannot make a node allocate or loop without limit.
const (
	// MinChunkSize is the smallest chunk size a file manifest may use.
	MinChunkSize = 16 << 10
	// MaxChunkSize is the largest chunk size a file manifest may use.
	MaxChunkSize = 16 << 20
	// MaxChunks is the largest number of chunks in one file manifest.
	MaxChunks = 1 << 20
	// MaxFileSize is the largest file a file manifest may describe (1 TiB).
	MaxFileSize = 1 << 40
	// MaxDirEntries is the largest number of entries in one folder manifest.
	MaxDirEntries = 100_000
	// MaxNameLen is the longest entry name, in bytes.
	MaxNameLen = 255
	// MaxTreeSize bounds the total size of a folder (1 PiB), so sums of
	// entry sizes never overflow.
	MaxTreeSize = 1 << 50
	// MaxManifestSize bounds encoded manifest bytes (a little over 32 MiB).
	// Check it before reading a manifest from anywhere.
	MaxManifestSize = fileHeaderSize + MaxChunks*DigestSize
)

const (
	formatVersion  = 1
	fileHeaderSize = 1 + 8 + 4 + 4 // version, size, chunk size, count
	dirHeaderSize  = 1 + 4         // version, count
	kindFile       = 0
	kindDir        = 1
)

// FileManifest describes a file as a list of chunks. Chunk i covers bytes
// [i*ChunkSize, min(Size, (i+1)*ChunkSize)); every chunk id is a
// [ChunkID]. An empty file has no chunks.
type FileManifest struct {
	Size      int64
	ChunkSize int
	Chunks    []cid.Cid
}

// NumChunks returns how many chunks a file of size bytes has at chunkSize.
func NumChunks(size int64, chunkSize int) int64 {
	if size <= 0 || chunkSize <= 0 {
		return 0
	}
	return (size + int64(chunkSize) - 1) / int64(chunkSize)
}

// ChooseChunkSize returns the chunk size to use for a file of size bytes
// when preferred is asked for (0 means [DefaultChunkSize]): preferred
// clamped to [MinChunkSize, MaxChunkSize], doubled until the file fits in
// [MaxChunks] chunks.
func ChooseChunkSize(size int64, preferred int) int {
	cs := preferred
	if cs <= 0 {
		cs = DefaultChunkSize
	}
	cs = min(max(cs, MinChunkSize), MaxChunkSize)
	for NumChunks(size, cs) > MaxChunks && cs < MaxChunkSize {
		cs = min(cs*2, MaxChunkSize)
	}
	return cs
}

// ChunkRange returns the offset and length of chunk i. It panics if i is
// out of range, like a slice index.
func (m *FileManifest) ChunkRange(i int) (off, n int64) {
	if i < 0 || i >= len(m.Chunks) {
		panic(fmt.Sprintf("content: chunk index %d out of range [0,%d)", i, len(m.Chunks)))
	}
	off = int64(i) * int64(m.ChunkSize)
	n = min(m.Size-off, int64(m.ChunkSize))
	return off, n
}

// VerifyChunk checks that data is exactly chunk i of the file: the right
// length and the right hash. It returns an error wrapping [ErrHashMismatch]
// otherwise.
func (m *FileManifest) VerifyChunk(i int, data []byte) error {
	if i < 0 || i >= len(m.Chunks) {
		return fmt.Errorf("%w: chunk index %d out of range [0,%d)", ErrHashMismatch, i, len(m.Chunks))
	}
	if _, n := m.ChunkRange(i); int64(len(data)) != n {
		return fmt.Errorf("%w: chunk %d has %d bytes, want %d", ErrHashMismatch, i, len(data), n)
	}
	return Verify(m.Chunks[i], data)
}

// Validate checks that m is within the bounds the decoder enforces and that
// every chunk id is a BLAKE3 raw chunk id. [HashFile] and
// [DecodeFileManifest] only return valid manifests.
func (m *FileManifest) Validate() error {
	if m.Size < 0 || m.Size > MaxFileSize {
		return fmt.Errorf("%w: file size %d out of range [0,%d]", ErrBadManifest, m.Size, int64(MaxFileSize))
	}
	if m.ChunkSize < MinChunkSize || m.ChunkSize > MaxChunkSize {
		return fmt.Errorf("%w: chunk size %d out of range [%d,%d]", ErrBadManifest, m.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	want := NumChunks(m.Size, m.ChunkSize)
	if want > MaxChunks {
		return fmt.Errorf("%w: %d chunks > %d", ErrBadManifest, want, MaxChunks)
	}
	if int64(len(m.Chunks)) != want {
		return fmt.Errorf("%w: %d chunks, size %d at chunk size %d needs %d", ErrBadManifest, len(m.Chunks), m.Size, m.ChunkSize, want)
	}
	for i, c := range m.Chunks {
		if !IsChunk(c) {
			return fmt.Errorf("%w: chunk %d id %s is not a raw chunk id", ErrBadManifest, i, c)
		}
		if _, err := Digest(c); err != nil {
			return fmt.Errorf("%w: chunk %d: %w", ErrBadManifest, i, err)
		}
	}
	return nil
}

// Encode returns the canonical binary form of m: a version byte, the size
// (uint64), the chunk size and the chunk count (uint32, all big-endian),
// then the 32-byte BLAKE3 digest of each chunk. Encode panics if m is not
// valid (see [FileManifest.Validate]); manifests from [HashFile] and
// [DecodeFileManifest] always are.
func (m *FileManifest) Encode() []byte {
	if err := m.Validate(); err != nil {
		panic(err)
	}
	out := make([]byte, fileHeaderSize, fileHeaderSize+len(m.Chunks)*DigestSize)
	out[0] = formatVersion
	binary.BigEndian.PutUint64(out[1:], uint64(m.Size))
	binary.BigEndian.PutUint32(out[9:], uint32(m.ChunkSize))
	binary.BigEndian.PutUint32(out[13:], uint32(len(m.Chunks)))
	for _, c := range m.Chunks {
		out = append(out, c.Hash()[2:]...)
	}
	return out
}

// ID returns the id of m: NewID(CodecFile, m.Encode()).
func (m *FileManifest) ID() cid.Cid { return NewID(CodecFile, m.Encode()) }

// DecodeFileManifest decodes the canonical form written by
// [FileManifest.Encode]. It refuses (with an error wrapping
// [ErrBadManifest] or [ErrManifestTooLarge]) unknown versions, truncated
// input, trailing bytes, sizes and chunk sizes out of bounds, and chunk
// counts that disagree with the size. It does not check a hash; use
// [Decode] for bytes fetched by id.
func DecodeFileManifest(data []byte) (*FileManifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrManifestTooLarge, len(data), MaxManifestSize)
	}
	if len(data) < fileHeaderSize {
		return nil, fmt.Errorf("%w: file manifest truncated (%d bytes)", ErrBadManifest, len(data))
	}
	if data[0] != formatVersion {
		return nil, fmt.Errorf("%w: unknown file manifest version %d", ErrBadManifest, data[0])
	}
	size := binary.BigEndian.Uint64(data[1:])
	chunkSize := binary.BigEndian.Uint32(data[9:])
	count := binary.BigEndian.Uint32(data[13:])
	if size > MaxFileSize {
		return nil, fmt.Errorf("%w: file size %d > %d", ErrBadManifest, size, uint64(MaxFileSize))
	}
	if chunkSize < MinChunkSize || chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d out of range [%d,%d]", ErrBadManifest, chunkSize, MinChunkSize, MaxChunkSize)
	}
	want := NumChunks(int64(size), int(chunkSize))
	if want > MaxChunks {
		return nil, fmt.Errorf("%w: size %d needs %d chunks > %d", ErrBadManifest, size, want, MaxChunks)
	}
	if int64(count) != want {
		return nil, fmt.Errorf("%w: %d chunks, size %d at chunk size %d needs %d", ErrBadManifest, count, size, chunkSize, want)
	}
	body := data[fileHeaderSize:]
	if len(body) != int(count)*DigestSize {
		return nil, fmt.Errorf("%w: %d bytes of digests for %d chunks (truncated or trailing bytes)", ErrBadManifest, len(body), count)
	}
	m := &FileManifest{Size: int64(size), ChunkSize: int(chunkSize), Chunks: make([]cid.Cid, count)}
	for i := range m.Chunks {
		m.Chunks[i] = IDFromDigest(CodecRaw, [DigestSize]byte(body[i*DigestSize:]))
	}
	return m, nil
}

// DirEntry is one entry of a folder: a file (ID codec [CodecFile]) or a
// subfolder (ID codec [CodecDir]), with its total size in bytes.
type DirEntry struct {
	Name string
	ID   cid.Cid
	Size int64
}

// IsDir reports whether e is a subfolder.
func (e DirEntry) IsDir() bool { return IsDir(e.ID) }

// DirManifest describes a folder: its direct entries. Encode sorts them by
// name (bytewise); names are unique.
type DirManifest struct {
	Entries []DirEntry
}

// Size returns the total size of the folder: the sum of its entries' sizes.
func (m *DirManifest) Size() int64 {
	var n int64
	for _, e := range m.Entries {
		n += e.Size
	}
	return n
}

// Validate checks m against the bounds the decoder enforces: entry count,
// valid and unique names, file or folder ids, sizes in range.
func (m *DirManifest) Validate() error {
	if len(m.Entries) > MaxDirEntries {
		return fmt.Errorf("%w: %d entries > %d", ErrBadManifest, len(m.Entries), MaxDirEntries)
	}
	names := make(map[string]struct{}, len(m.Entries))
	var total int64
	for _, e := range m.Entries {
		if err := ValidName(e.Name); err != nil {
			return fmt.Errorf("%w: %w", ErrBadManifest, err)
		}
		if _, dup := names[e.Name]; dup {
			return fmt.Errorf("%w: duplicate name %q", ErrBadManifest, e.Name)
		}
		names[e.Name] = struct{}{}
		if err := checkEntry(e); err != nil {
			return err
		}
		total += e.Size
		if total > MaxTreeSize {
			return fmt.Errorf("%w: folder size exceeds %d", ErrBadManifest, int64(MaxTreeSize))
		}
	}
	return nil
}

func checkEntry(e DirEntry) error {
	if !IsFile(e.ID) && !IsDir(e.ID) {
		return fmt.Errorf("%w: entry %q id %s is neither file nor folder", ErrBadManifest, e.Name, e.ID)
	}
	if _, err := Digest(e.ID); err != nil {
		return fmt.Errorf("%w: entry %q: %w", ErrBadManifest, e.Name, err)
	}
	limit := int64(MaxTreeSize)
	if IsFile(e.ID) {
		limit = MaxFileSize
	}
	if e.Size < 0 || e.Size > limit {
		return fmt.Errorf("%w: entry %q size %d out of range [0,%d]", ErrBadManifest, e.Name, e.Size, limit)
	}
	return nil
}

// Encode returns the canonical binary form of m: a version byte, the entry
// count (uint32), then per entry in bytewise name order: name length (one
// byte), name, kind (0 file, 1 folder), 32-byte digest, size (uint64). All
// integers are big-endian. Encode panics if m is not valid (see
// [DirManifest.Validate]); [BuildDir] and [DecodeDirManifest] only return
// valid manifests.
func (m *DirManifest) Encode() []byte {
	if err := m.Validate(); err != nil {
		panic(err)
	}
	entries := slices.Clone(m.Entries)
	slices.SortFunc(entries, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	n := dirHeaderSize
	for _, e := range entries {
		n += 1 + len(e.Name) + 1 + DigestSize + 8
	}
	out := make([]byte, dirHeaderSize, n)
	out[0] = formatVersion
	binary.BigEndian.PutUint32(out[1:], uint32(len(entries)))
	for _, e := range entries {
		out = append(out, byte(len(e.Name)))
		out = append(out, e.Name...)
		kind := byte(kindFile)
		if e.IsDir() {
			kind = kindDir
		}
		out = append(out, kind)
		out = append(out, e.ID.Hash()[2:]...)
		out = binary.BigEndian.AppendUint64(out, uint64(e.Size))
	}
	return out
}

// ID returns the id of m: NewID(CodecDir, m.Encode()).
func (m *DirManifest) ID() cid.Cid { return NewID(CodecDir, m.Encode()) }

// DecodeDirManifest decodes the canonical form written by
// [DirManifest.Encode]. It refuses (with an error wrapping
// [ErrBadManifest] or [ErrManifestTooLarge]) unknown versions, more than
// [MaxDirEntries] entries, names that [ValidName] refuses, names that are
// duplicated or out of order, unknown kinds, sizes out of range or whose sum
// exceeds [MaxTreeSize], truncated input and trailing bytes. It does not
// check a hash; use [Decode] for bytes fetched by id.
func DecodeDirManifest(data []byte) (*DirManifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrManifestTooLarge, len(data), MaxManifestSize)
	}
	if len(data) < dirHeaderSize {
		return nil, fmt.Errorf("%w: folder manifest truncated (%d bytes)", ErrBadManifest, len(data))
	}
	if data[0] != formatVersion {
		return nil, fmt.Errorf("%w: unknown folder manifest version %d", ErrBadManifest, data[0])
	}
	count := binary.BigEndian.Uint32(data[1:])
	if count > MaxDirEntries {
		return nil, fmt.Errorf("%w: %d entries > %d", ErrBadManifest, count, MaxDirEntries)
	}
	// Every entry takes at least this many bytes, so a count the data cannot
	// hold is refused before allocating.
	const minEntry = 1 + 1 + 1 + DigestSize + 8
	rest := data[dirHeaderSize:]
	if uint64(len(rest)) < uint64(count)*minEntry {
		return nil, fmt.Errorf("%w: %d bytes cannot hold %d entries", ErrBadManifest, len(rest), count)
	}
	m := &DirManifest{Entries: make([]DirEntry, 0, count)}
	var total int64
	prev := ""
	for i := range int(count) {
		if len(rest) < 1 {
			return nil, fmt.Errorf("%w: entry %d truncated", ErrBadManifest, i)
		}
		nl := int(rest[0])
		if len(rest) < 1+nl+1+DigestSize+8 {
			return nil, fmt.Errorf("%w: entry %d truncated", ErrBadManifest, i)
		}
		name := string(rest[1 : 1+nl])
		if err := ValidName(name); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadManifest, i, err)
		}
		if i > 0 && name <= prev {
			return nil, fmt.Errorf("%w: entry %d name %q duplicated or out of order", ErrBadManifest, i, name)
		}
		prev = name
		p := rest[1+nl:]
		var codec uint64
		switch p[0] {
		case kindFile:
			codec = CodecFile
		case kindDir:
			codec = CodecDir
		default:
			return nil, fmt.Errorf("%w: entry %d unknown kind %d", ErrBadManifest, i, p[0])
		}
		id := IDFromDigest(codec, [DigestSize]byte(p[1:]))
		size := binary.BigEndian.Uint64(p[1+DigestSize:])
		if size > MaxTreeSize {
			return nil, fmt.Errorf("%w: entry %d size %d too large", ErrBadManifest, i, size)
		}
		e := DirEntry{Name: name, ID: id, Size: int64(size)}
		if err := checkEntry(e); err != nil {
			return nil, err
		}
		total += e.Size
		if total > MaxTreeSize {
			return nil, fmt.Errorf("%w: folder size exceeds %d", ErrBadManifest, int64(MaxTreeSize))
		}
		m.Entries = append(m.Entries, e)
		rest = p[1+DigestSize+8:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadManifest, len(rest))
	}
	return m, nil
}

// ValidName reports whether name may be an entry of a folder manifest: a
// single path element of 1 to [MaxNameLen] bytes of valid UTF-8, not "."
// or "..", with no '/' or '\\' separator, no NUL, no control character
// (U+0000–U+001F, U+007F–U+009F) and no bidirectional override or isolate
// (U+202A–U+202E, U+2066–U+2069), which could disguise a name's extension.
// Names differing only in case are allowed.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("content: empty name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("content: name of %d bytes longer than %d", len(name), MaxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("content: name %q is not allowed", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("content: name %q is not valid UTF-8", name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("content: name %q contains a path separator", name)
	}
	for _, r := range name {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("content: name %q contains control character %U", name, r)
		}
		if (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return fmt.Errorf("content: name %q contains bidirectional control %U", name, r)
		}
	}
	return nil
}
