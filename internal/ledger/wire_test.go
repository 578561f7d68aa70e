package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/peerpath/peerpath/internal/p2p"
)

// The client protocol's framing is the one deployed nodes speak: a uvarint
// length, then that many bytes of JSON. Built by hand here, so a change to
// p2p's framing that would break old peers fails this test.
func TestFrameFormatUnchanged(t *testing.T) {
	req := clientRequest{Op: opBalance, Account: "12D3KooWQ4Y6GBxHwTUCKqwNtgDm5oF9GpHbQdGMhWYQh9YdwQhx"}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	want := append(binary.AppendUvarint(nil, uint64(len(body))), body...)
	var buf bytes.Buffer
	if err := writeFrame(&buf, req); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("frame %q, want %q", buf.Bytes(), want)
	}
	// A large frame (written in two parts) reads back whole; the stream
	// position is right after it.
	big := bytes.Repeat([]byte("x"), 100<<10)
	hand := append(binary.AppendUvarint(nil, uint64(len(big))), big...)
	got, err := readFrame(bytes.NewReader(append(append(hand, want...), 0xff)))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big frame: %d bytes, %v", len(got), err)
	}
	// Over the limit: refused before the body is read.
	over := binary.AppendUvarint(nil, maxFrame+1)
	if _, err := readFrame(bytes.NewReader(over)); !errors.Is(err, p2p.ErrMsgTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}
