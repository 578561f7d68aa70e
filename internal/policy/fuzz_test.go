package policy

import (
	"bytes"
	"testing"

	"github.com/ipfs/go-cid"
)

// FuzzParse feeds arbitrary bytes to the denylist parser: it must return a
// list or an error, never panic, and a list it returns must answer lookups.
func FuzzParse(f *testing.F) {
	f.Add([]byte("version: 1\n---\n/ipfs/bafkreihvvulpp4evxj7x7armbqcyg6uezzuig6jp3lktpbovlqfkuqeuoq\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		if l.Deny+l.Allow+l.Ignored > bytes.Count(data, []byte{'\n'})+1 {
			t.Fatalf("%d rules from %d lines", l.Deny+l.Allow+l.Ignored, bytes.Count(data, []byte{'\n'})+1)
		}
		if len(l.Warnings) > MaxWarnings {
			t.Fatalf("%d warnings", len(l.Warnings))
		}
		id, _ := cid.Decode("bafkreihvvulpp4evxj7x7armbqcyg6uezzuig6jp3lktpbovlqfkuqeuoq")
		l.Denies(id)
		l.Denies(fileID("x"))
	})
}
