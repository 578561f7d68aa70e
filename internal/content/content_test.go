package content

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIDAndVerify(t *testing.T) {
	data := []byte("hello peerpath")
	id := ChunkID(data)
	if id.Version() != 1 || id.Type() != CodecRaw {
		t.Fatalf("id %s: version %d codec %x", id, id.Version(), id.Type())
	}
	dec, err := mh.Decode(id.Hash())
	if err != nil || dec.Code != MhBLAKE3 || dec.Length != 32 {
		t.Fatalf("multihash %+v, %v", dec, err)
	}
	if !id.Equals(NewID(CodecRaw, append([]byte(nil), data...))) {
		t.Fatal("same bytes gave different ids")
	}
	if NewID(CodecFile, data).Equals(id) {
		t.Fatal("codec not part of id")
	}
	if err := Verify(id, data); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := Verify(id, []byte("hello peerpatH")); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Verify of other bytes: %v", err)
	}
	sha, err := cid.Prefix{Version: 1, Codec: CodecRaw, MhType: mh.SHA2_256, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(sha, data); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Verify accepted a sha256 id: %v", err)
	}
	if err := Verify(cid.Undef, data); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Verify accepted an undefined id: %v", err)
	}
	// Known-answer: BLAKE3 of the empty input.
	const emptyHex = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	d, err := Digest(ChunkID(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := bytesHex(d[:]); got != emptyHex {
		t.Fatalf("blake3(\"\") = %s, want %s", got, emptyHex)
	}
}

func bytesHex(b []byte) string {
	const hx = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(hx[c>>4])
		sb.WriteByte(hx[c&15])
	}
	return sb.String()
}

func TestFileManifestRoundTrip(t *testing.T) {
	const cs = MinChunkSize
	for _, size := range []int{0, 1, cs - 1, cs, cs + 1, 5*cs + 17} {
		data := testutil.SeededBytes(uint64(size), size)
		m := HashBytes(data, cs)
		if int64(len(m.Chunks)) != NumChunks(int64(size), cs) || m.Size != int64(size) {
			t.Fatalf("size %d: %d chunks, size %d", size, len(m.Chunks), m.Size)
		}
		var joined []byte
		for i := range m.Chunks {
			off, n := m.ChunkRange(i)
			part := data[off : off+n]
			if err := m.VerifyChunk(i, part); err != nil {
				t.Fatalf("size %d chunk %d: %v", size, i, err)
			}
			joined = append(joined, part...)
		}
		if !bytes.Equal(joined, data) {
			t.Fatalf("size %d: chunk ranges do not cover the file", size)
		}
		enc := m.Encode()
		if len(enc) != fileHeaderSize+len(m.Chunks)*DigestSize {
			t.Fatalf("encoding is %d bytes", len(enc))
		}
		got, err := DecodeFileManifest(enc)
		if err != nil {
			t.Fatalf("size %d: decode: %v", size, err)
		}
		if !bytes.Equal(got.Encode(), enc) || !got.ID().Equals(m.ID()) {
			t.Fatalf("size %d: round trip changed the manifest", size)
		}
		if !HashBytes(bytes.Clone(data), cs).ID().Equals(m.ID()) {
			t.Fatalf("size %d: not deterministic", size)
		}
		if size > 0 {
			if err := m.VerifyChunk(0, append([]byte{1}, data...)[:min(size, cs)]); size > 1 && !errors.Is(err, ErrHashMismatch) {
				t.Fatalf("size %d: VerifyChunk accepted shifted data: %v", size, err)
			}
			if err := m.VerifyChunk(len(m.Chunks), nil); !errors.Is(err, ErrHashMismatch) {
				t.Fatalf("VerifyChunk out of range: %v", err)
			}
		}
	}
}

func TestChooseChunkSize(t *testing.T) {
	tests := []struct {
		size      int64
		preferred int
		want      int
	}{
		{0, 0, DefaultChunkSize},
		{100, 1, MinChunkSize},
		{100, 1 << 30, MaxChunkSize},
		{MaxFileSize, 0, 1 << 20},
		{MaxFileSize, MinChunkSize, 1 << 20},
		{MaxFileSize + 1, 0, 2 << 20},
	}
	for _, tt := range tests {
		if got := ChooseChunkSize(tt.size, tt.preferred); got != tt.want {
			t.Errorf("ChooseChunkSize(%d, %d) = %d, want %d", tt.size, tt.preferred, got, tt.want)
		}
	}
}

func fileHeader(version byte, size uint64, cs, count uint32) []byte {
	b := []byte{version}
	b = binary.BigEndian.AppendUint64(b, size)
	b = binary.BigEndian.AppendUint32(b, cs)
	return binary.BigEndian.AppendUint32(b, count)
}

func TestDecodeFileManifestHostile(t *testing.T) {
	good := HashBytes(testutil.SeededBytes(1, 3*MinChunkSize+5), MinChunkSize).Encode()
	digests := func(n int) []byte { return make([]byte, n*DigestSize) }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrBadManifest},
		{"truncated header", good[:fileHeaderSize-1], ErrBadManifest},
		{"bad version", append([]byte{2}, good[1:]...), ErrBadManifest},
		{"truncated digests", good[:len(good)-1], ErrBadManifest},
		{"trailing byte", append(bytes.Clone(good), 0), ErrBadManifest},
		{"chunk size too small", append(fileHeader(1, 10, MinChunkSize-1, 1), digests(1)...), ErrBadManifest},
		{"chunk size too large", append(fileHeader(1, 10, MaxChunkSize+1, 1), digests(1)...), ErrBadManifest},
		{"chunk size zero", fileHeader(1, 0, 0, 0), ErrBadManifest},
		{"size too large", fileHeader(1, MaxFileSize+1, MaxChunkSize, 65537), ErrBadManifest},
		{"too many chunks", fileHeader(1, MaxFileSize, MinChunkSize, 1<<26), ErrBadManifest},
		{"count too low", append(fileHeader(1, MinChunkSize+1, MinChunkSize, 1), digests(1)...), ErrBadManifest},
		{"count too high", append(fileHeader(1, MinChunkSize, MinChunkSize, 2), digests(2)...), ErrBadManifest},
		{"chunks for empty file", append(fileHeader(1, 0, MinChunkSize, 1), digests(1)...), ErrBadManifest},
		{"huge count, no data", fileHeader(1, 1<<20*MinChunkSize, MinChunkSize, 1<<20), ErrBadManifest},
		{"over max size", make([]byte, MaxManifestSize+1), ErrManifestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeFileManifest(tt.data)
			if !errors.Is(err, tt.want) || m != nil {
				t.Fatalf("got %v, %v; want %v", m, err, tt.want)
			}
		})
	}
	if m, err := DecodeFileManifest(fileHeader(1, 0, MinChunkSize, 0)); err != nil || m.Size != 0 || len(m.Chunks) != 0 {
		t.Fatalf("empty file manifest: %v, %v", m, err)
	}
}

func testDir(t *testing.T) *DirManifest {
	t.Helper()
	f1 := HashBytes([]byte("one"), 0)
	f2 := HashBytes([]byte("two two"), 0)
	sub := &DirManifest{Entries: []DirEntry{{Name: "inner.txt", ID: f1.ID(), Size: f1.Size}}}
	return &DirManifest{Entries: []DirEntry{
		{Name: "zeta.bin", ID: f2.ID(), Size: f2.Size},
		{Name: "Alpha.txt", ID: f1.ID(), Size: f1.Size},
		{Name: "alpha.txt", ID: f1.ID(), Size: f1.Size}, // case duplicate is fine
		{Name: "sub dir ✓", ID: sub.ID(), Size: sub.Size()},
	}}
}

func TestDirManifestRoundTrip(t *testing.T) {
	m := testDir(t)
	enc := m.Encode()
	got, err := DecodeDirManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range got.Entries {
		names = append(names, e.Name)
	}
	if strings.Join(names, "|") != "Alpha.txt|alpha.txt|sub dir ✓|zeta.bin" {
		t.Fatalf("entries not sorted: %v", names)
	}
	if !got.ID().Equals(m.ID()) || got.Size() != 3+7+3+3 {
		t.Fatalf("round trip: id %s vs %s, size %d", got.ID(), m.ID(), got.Size())
	}
	if !got.Entries[2].IsDir() || got.Entries[0].IsDir() {
		t.Fatal("kinds lost")
	}
	// Order of entries does not change the id.
	rev := &DirManifest{Entries: []DirEntry{m.Entries[3], m.Entries[2], m.Entries[1], m.Entries[0]}}
	if !rev.ID().Equals(m.ID()) {
		t.Fatal("id depends on entry order")
	}
	if m.Entries[0].Name != "zeta.bin" {
		t.Fatal("Encode reordered the caller's slice")
	}
	if empty, err := DecodeDirManifest((&DirManifest{}).Encode()); err != nil || len(empty.Entries) != 0 {
		t.Fatalf("empty folder: %v %v", empty, err)
	}
}

// rawDir builds a folder manifest encoding by hand, bypassing Validate.
func rawDir(count uint32, entries ...[]byte) []byte {
	b := []byte{1}
	b = binary.BigEndian.AppendUint32(b, count)
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

func rawEntry(name string, kind byte, size uint64) []byte {
	b := []byte{byte(len(name))}
	b = append(b, name...)
	b = append(b, kind)
	b = append(b, make([]byte, DigestSize)...)
	return binary.BigEndian.AppendUint64(b, size)
}

func TestDecodeDirManifestHostile(t *testing.T) {
	ok := rawEntry("a", kindFile, 1)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad version", append([]byte{0}, rawDir(1, ok)[1:]...)},
		{"dotdot", rawDir(1, rawEntry("..", kindFile, 1))},
		{"dot", rawDir(1, rawEntry(".", kindFile, 1))},
		{"empty name", rawDir(1, rawEntry("", kindFile, 1))},
		{"absolute", rawDir(1, rawEntry("/etc", kindFile, 1))},
		{"slash", rawDir(1, rawEntry("a/../../b", kindFile, 1))},
		{"backslash", rawDir(1, rawEntry(`..\b`, kindFile, 1))},
		{"windows absolute", rawDir(1, rawEntry(`C:\b`, kindFile, 1))},
		{"nul", rawDir(1, rawEntry("a\x00b", kindFile, 1))},
		{"newline", rawDir(1, rawEntry("a\nb", kindFile, 1))},
		{"del", rawDir(1, rawEntry("a\x7fb", kindFile, 1))},
		{"c1 control", rawDir(1, rawEntry("a\u0085b", kindFile, 1))},
		{"invalid utf8", rawDir(1, rawEntry("a\xffb", kindFile, 1))},
		{"duplicate", rawDir(2, ok, ok)},
		{"unsorted", rawDir(2, rawEntry("b", kindFile, 1), ok)},
		{"unknown kind", rawDir(1, rawEntry("a", 7, 1))},
		{"file too large", rawDir(1, rawEntry("a", kindFile, MaxFileSize+1))},
		{"folder too large", rawDir(1, rawEntry("a", kindDir, MaxTreeSize+1))},
		{"sum overflows", rawDir(2, rawEntry("a", kindDir, MaxTreeSize), rawEntry("b", kindDir, 1))},
		{"negative size", rawDir(1, rawEntry("a", kindFile, 1<<63))},
		{"too many entries", rawDir(MaxDirEntries + 1)},
		{"count beyond data", rawDir(1000, ok)},
		{"truncated", rawDir(1, ok)[:10]},
		{"trailing", append(rawDir(1, ok), 0)},
		{"count too low", rawDir(0, ok)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeDirManifest(tt.data)
			if !errors.Is(err, ErrBadManifest) || m != nil {
				t.Fatalf("got %v, %v; want ErrBadManifest", m, err)
			}
		})
	}
	if _, err := DecodeDirManifest(make([]byte, MaxManifestSize+1)); !errors.Is(err, ErrManifestTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := DecodeDirManifest(rawDir(2, ok, rawEntry("b", kindDir, 5))); err != nil {
		t.Fatalf("valid hand-made folder refused: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for _, good := range []string{"a", "a.txt", "..a", "a..", ".hidden", "日本語", "a b", "C:x", strings.Repeat("x", MaxNameLen)} {
		if err := ValidName(good); err != nil {
			t.Errorf("ValidName(%q) = %v", good, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "/", "/a", "a/b", `a\b`, "a\x00", "\t", "a\x1f", strings.Repeat("x", MaxNameLen+1), "\xc3", "photo\u202egnp.exe", "a\u2066b"} {
		if err := ValidName(bad); err == nil {
			t.Errorf("ValidName(%q) accepted", bad)
		}
	}
}

func TestEncodePanicsOnInvalid(t *testing.T) {
	for name, fn := range map[string]func(){
		"file with sha256 chunk": func() {
			sha, _ := cid.Prefix{Version: 1, Codec: CodecRaw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("x"))
			(&FileManifest{Size: 1, ChunkSize: MinChunkSize, Chunks: []cid.Cid{sha}}).Encode()
		},
		"dir with bad name": func() {
			(&DirManifest{Entries: []DirEntry{{Name: "..", ID: HashBytes(nil, 0).ID()}}}).Encode()
		},
		"dir with chunk entry": func() {
			(&DirManifest{Entries: []DirEntry{{Name: "a", ID: ChunkID(nil)}}}).Encode()
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Encode did not panic", name)
				}
			}()
			fn()
		}()
	}
}

func TestDecode(t *testing.T) {
	fm := HashBytes(testutil.SeededBytes(2, 100), 0)
	dm := testDir(t)
	got, err := Decode(fm.ID(), fm.Encode())
	if f, ok := got.(*FileManifest); err != nil || !ok || !f.ID().Equals(fm.ID()) {
		t.Fatalf("file: %T %v", got, err)
	}
	got, err = Decode(dm.ID(), dm.Encode())
	if d, ok := got.(*DirManifest); err != nil || !ok || !d.ID().Equals(dm.ID()) {
		t.Fatalf("dir: %T %v", got, err)
	}
	if _, err := Decode(dm.ID(), fm.Encode()); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("wrong bytes: %v", err)
	}
	// Right hash, wrong codec: a file manifest's bytes under a folder id.
	asDir := NewID(CodecDir, fm.Encode())
	if _, err := Decode(asDir, fm.Encode()); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("file bytes under folder codec: %v", err)
	}
	if _, err := Decode(ChunkID([]byte("x")), []byte("x")); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("raw codec: %v", err)
	}
}

func TestHashFileMatchesHashBytes(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, size := range []int{0, 1, MinChunkSize, 7*MinChunkSize + 3, 64*MinChunkSize + 1} {
		data := testutil.SeededBytes(uint64(size)+7, size)
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want := HashBytes(data, MinChunkSize).ID()
		for _, workers := range []int{0, 1, 3, 100} {
			m, err := HashFile(ctx, p, MinChunkSize, workers)
			if err != nil {
				t.Fatalf("size %d workers %d: %v", size, workers, err)
			}
			if !m.ID().Equals(want) {
				t.Fatalf("size %d workers %d: id %s, want %s", size, workers, m.ID(), want)
			}
		}
	}
	p := filepath.Join(dir, "f")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := HashFile(cctx, p, MinChunkSize, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := HashFile(ctx, dir, 0, 0); err == nil {
		t.Fatal("hashing a folder succeeded")
	}
	if _, err := HashFile(ctx, filepath.Join(dir, "missing"), 0, 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

func TestHashFileDetectsChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	data := testutil.SeededBytes(5, 4*MinChunkSize)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(){
		"grows": func() {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write([]byte("more"))
			f.Close()
		},
		"shrinks": func() { os.Truncate(p, MinChunkSize) },
	} {
		testHookChunkRead = func(i int) {
			if i == 0 {
				change()
			}
		}
		_, err := HashFile(context.Background(), p, MinChunkSize, 1)
		testHookChunkRead = nil
		if !errors.Is(err, ErrFileChanged) {
			t.Errorf("%s: %v", name, err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
