package compute

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
)

func TestAdvertAuthor(t *testing.T) {
	author, err := peer.Decode(fuzzPeer)
	if err != nil {
		t.Fatal(err)
	}
	a := advert{V: 1, Job: newID(), Submitter: fuzzPeer, Module: string(bytes.Repeat([]byte("0f"), 32)),
		ModuleSize: 100, Units: 3, Memory: 1 << 20, TimeoutMS: 1000}
	data, _ := json.Marshal(a)
	if got, err := decodeAdvert(data, author); err != nil || got != a {
		t.Fatalf("good advert: %+v, %v", got, err)
	}
	other, err := peer.Decode("12D3KooWL6zAdy8XwUYWWRzoR1S4tvKWsiLi4LtLqRCQxBZLPYEF")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeAdvert(data, other); !errors.Is(err, errProtocol) {
		t.Errorf("advert relayed under another author accepted: %v", err)
	}
	a.Units = 0
	data, _ = json.Marshal(a)
	if _, err := decodeAdvert(data, author); err == nil {
		t.Error("advert with no units accepted")
	}
}

func TestMessageLimits(t *testing.T) {
	var buf bytes.Buffer
	if err := writeMessage(&buf, message{Op: opUnit, Unit: 2, Attempt: "a"}, []byte("stdin")); err != nil {
		t.Fatal(err)
	}
	m, body, err := readMessage(&buf)
	if err != nil || m.Unit != 2 || string(body) != "stdin" {
		t.Fatalf("round trip: %+v %q %v", m, body, err)
	}
	// A header announcing a body over the op's limit is refused before
	// the body is read.
	hdr, _ := json.Marshal(message{Op: opResult, Body: MaxInline + 1})
	buf.Reset()
	_ = p2p.WriteMsg(&buf, hdr)
	if _, _, err := readMessage(&buf); !errors.Is(err, errProtocol) {
		t.Errorf("oversized body: %v", err)
	}
	// Ops without a body may not announce one.
	hdr, _ = json.Marshal(message{Op: opAck, Body: 1})
	if _, err := decodeMessage(hdr); !errors.Is(err, errProtocol) {
		t.Errorf("ack with a body: %v", err)
	}
	// A header over 64 KiB is refused by the framing.
	buf.Reset()
	_ = p2p.WriteMsg(&buf, make([]byte, maxHeader+1))
	if _, _, err := readMessage(&buf); !errors.Is(err, p2p.ErrMsgTooLarge) {
		t.Errorf("huge header: %v", err)
	}
}
