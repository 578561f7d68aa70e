package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
)

func parseFile(t *testing.T, name string) *List {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := Parse(f)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return l
}

func fileID(s string) cid.Cid { return content.NewID(content.CodecFile, []byte(s)) }

func TestParseGatewayList(t *testing.T) {
	l := parseFile(t, "gateway.deny")
	if l.Name != "peerpath test list" || l.Author != "tests@peerpath.invalid" || l.Version != 1 {
		t.Errorf("header: name %q author %q version %d", l.Name, l.Author, l.Version)
	}
	if l.Deny != 6 || l.Allow != 1 || l.Ignored != 5 {
		t.Errorf("deny %d allow %d ignored %d, want 6 1 5", l.Deny, l.Allow, l.Ignored)
	}
	if len(l.Warnings) != 5 {
		t.Fatalf("warnings %q", l.Warnings)
	}
	for i, want := range []string{"path below a CID", "IPNS", "IPNS", "not a CID", "not a rule"} {
		if !strings.Contains(l.Warnings[i], want) {
			t.Errorf("warning %d = %q, want it to say %q", i, l.Warnings[i], want)
		}
	}
	for _, tc := range []struct {
		s    string
		deny bool
	}{
		{"denied-by-cid", true},
		{"star", true},
		{"denied-by-legacy", true},
		{"denied-by-sha256-double", true},
		{"denied-by-blake3-double", true},
		{"allowed-again", false},
		{"anything else", false},
	} {
		if got := l.Denies(fileID(tc.s)); got != tc.deny {
			t.Errorf("%s (%s): denied %v, want %v", tc.s, fileID(tc.s), got, tc.deny)
		}
	}
	// A CID rule names a multihash: the same bytes under another codec are
	// denied too; a legacy anchor names one CID string only.
	id := fileID("denied-by-cid")
	if !l.Denies(cid.NewCidV1(content.CodecRaw, id.Hash())) {
		t.Error("a CID rule did not deny the same multihash as a chunk id")
	}
	if l.Denies(cid.NewCidV1(content.CodecRaw, fileID("denied-by-legacy").Hash())) {
		t.Error("a legacy anchor denied another codec's CID")
	}
}

// TestSpecVectors checks the examples the IPIP-383 specification gives,
// whose hashes were computed by its authors, not by this package.
func TestSpecVectors(t *testing.T) {
	l := parseFile(t, "ipip383-vectors.deny")
	if l.Deny != 3 || l.Ignored != 0 {
		t.Fatalf("deny %d ignored %d (%q)", l.Deny, l.Ignored, l.Warnings)
	}
	for _, s := range []string{
		"bafybeidjwik6im54nrpfg7osdvmx7zojl5oaxqel5cmsz46iuelwf5acja", // modern double hash
		"QmVTF1yEejXd9iMgoRTFDxBv7HAz9kuZcQNBzHrceuK9HR",              // its CIDv0 form
		"bafybeiefwqslmf6zyyrxodaxx4vwqircuxpza5ri45ws3y5a62ypxti42e", // legacy anchor
		"bafybeihvvulpp4evxj7x7armbqcyg6uezzuig6jp3lktpbovlqfkuqeuoq", // CID rule
		"bafkreihvvulpp4evxj7x7armbqcyg6uezzuig6jp3lktpbovlqfkuqeuoq", // same multihash, raw codec
		"QmesfgDQ3q6prBy2Kg2gKbW4MAGuWiRP2DVuGA5MZSERLo",              // same multihash, CIDv0
	} {
		id, err := cid.Decode(s)
		if err != nil {
			t.Fatal(err)
		}
		if !l.Denies(id) {
			t.Errorf("%s not denied", s)
		}
	}
	other, _ := cid.Decode("QmecDgNqCRirkc3Cjz9eoRBNwXGckJ9WvTdmY16HP88768")
	if l.Denies(other) {
		t.Error("an unlisted CID was denied")
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"version 2":  "version: 2\n---\n/ipfs/bafkreihvvulpp4evxj7x7armbqcyg6uezzuig6jp3lktpbovlqfkuqeuoq\n",
		"bad header": "name: x\n/ipfs/bafkreihvvulpp4evxj7x7armbqcyg6uezzuig6jp3lktpbovlqfkuqeuoq\n---\n",
		"long line":  "/ipfs/" + strings.Repeat("a", MaxLine+1) + "\n",
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// No header at all, and no trailing newline: fine.
	l, err := Parse(strings.NewReader("# just rules\n/ipfs/" + fileID("x").String()))
	if err != nil || l.Deny != 1 || !l.Denies(fileID("x")) {
		t.Fatalf("headerless list: %v, deny %d", err, l.Deny)
	}
	// A header alone with "---" on the last line, no rules.
	l, err = Parse(strings.NewReader("name: empty\n---"))
	if err != nil || l.Name != "empty" || l.Deny != 0 {
		t.Fatalf("header-only list: %v %+v", err, l)
	}
	// Past MaxHeader the separator is not a header's: its lines are rules,
	// ignored with warnings, and the rest still loads.
	big := strings.Repeat("# padding padding padding padding padding padding\n", MaxHeader/50+10) +
		"---\n/ipfs/" + fileID("late").String() + "\n"
	l, err = Parse(strings.NewReader(big))
	if err != nil || !l.Denies(fileID("late")) || l.Ignored != 1 {
		t.Fatalf("big list: %v, ignored %d", err, l.Ignored)
	}
}
