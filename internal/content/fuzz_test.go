package content

import (
	"bytes"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/testutil"
)

// The seed corpora live in testdata/fuzz/Fuzz*/ so they run in plain
// `go test`.

func FuzzDecodeFileManifest(f *testing.F) {
	f.Add(HashBytes(testutil.SeededBytes(9, 2*MinChunkSize+1), MinChunkSize).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeFileManifest(data)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded manifest invalid: %v", err)
		}
		if !bytes.Equal(m.Encode(), data) {
			t.Fatal("decode/encode is not the identity: encoding not canonical")
		}
	})
}

func FuzzDecodeDirManifest(f *testing.F) {
	f.Add(rawDir(2, rawEntry("a", kindFile, 1), rawEntry("b", kindDir, 5)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeDirManifest(data)
		if err != nil {
			return
		}
		for _, e := range m.Entries {
			if ValidName(e.Name) != nil {
				t.Fatalf("accepted name %q", e.Name)
			}
		}
		if !bytes.Equal(m.Encode(), data) {
			t.Fatal("decode/encode is not the identity: encoding not canonical")
		}
	})
}

func FuzzDecode(f *testing.F) {
	fm := HashBytes([]byte("fuzz"), 0).Encode()
	f.Add(NewID(CodecFile, fm).Bytes(), fm)
	f.Fuzz(func(t *testing.T, idBytes, data []byte) {
		id, err := cid.Cast(idBytes)
		if err != nil {
			return
		}
		v, err := Decode(id, data)
		if err != nil {
			return
		}
		if Verify(id, data) != nil {
			t.Fatal("Decode accepted bytes that do not verify")
		}
		switch m := v.(type) {
		case *FileManifest:
			if !m.ID().Equals(id) {
				t.Fatal("file manifest id differs from the id it was fetched by")
			}
		case *DirManifest:
			if !m.ID().Equals(id) {
				t.Fatal("folder manifest id differs from the id it was fetched by")
			}
		default:
			t.Fatalf("Decode returned %T", v)
		}
	})
}
