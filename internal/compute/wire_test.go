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
	a := advert{V: advertVersion, Job: newID(), Submitter: fuzzPeer, Module: fuzzModule,
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
	a.Units, a.Module = 3, fuzzChunk
	data, _ = json.Marshal(a)
	if _, err := decodeAdvert(data, author); !errors.Is(err, errProtocol) {
		t.Errorf("advert naming a chunk as its module accepted: %v", err)
	}
}

func TestMessageLimits(t *testing.T) {
	var buf bytes.Buffer
	hash := string(bytes.Repeat([]byte("ab"), 32))
	if err := writeMessage(&buf, message{Op: opResult, Unit: 2, Attempt: "a", Hash: hash}, []byte("stdout")); err != nil {
		t.Fatal(err)
	}
	m, body, err := readMessage(&buf)
	if err != nil || m.Unit != 2 || string(body) != "stdout" {
		t.Fatalf("round trip: %+v %q %v", m, body, err)
	}
	// A header announcing a body over the op's limit is refused before
	// the body is read: results inline up to InlineResult, units carry
	// none (their module and input travel as content).
	hdr, _ := json.Marshal(message{Op: opResult, Body: InlineResult + 1})
	buf.Reset()
	_ = p2p.WriteMsg(&buf, hdr)
	if _, _, err := readMessage(&buf); !errors.Is(err, errProtocol) {
		t.Errorf("oversized body: %v", err)
	}
	// Ops without a body may not announce one.
	for _, op := range []string{opAck, opUnit, opWork} {
		hdr, _ = json.Marshal(message{Op: op, Body: 1, Module: fuzzModule, ModuleSize: 1})
		if _, err := decodeMessage(hdr); !errors.Is(err, errProtocol) {
			t.Errorf("%s with a body: %v", op, err)
		}
	}
	// Content ids must name files, and their sizes are bounded before
	// anything is fetched.
	good := message{Op: opUnit, Module: fuzzModule, ModuleSize: 100, Input: fuzzInput, InputSize: 5}
	for name, m := range map[string]message{
		"module too large":   {Op: opUnit, Module: fuzzModule, ModuleSize: MaxModuleBytes + 1},
		"input too large":    {Op: opUnit, Module: fuzzModule, ModuleSize: 1, Input: fuzzInput, InputSize: MaxInput + 1},
		"empty module":       {Op: opUnit, Module: fuzzModule},
		"no module":          {Op: opUnit},
		"chunk as module":    {Op: opUnit, Module: fuzzChunk, ModuleSize: 1},
		"not a cid":          {Op: opUnit, Module: "hello", ModuleSize: 1},
		"size without id":    {Op: opUnit, Module: fuzzModule, ModuleSize: 1, InputSize: 5},
		"small output":       {Op: opResult, Hash: hash, Output: fuzzInput, OutputSize: InlineResult},
		"huge output":        {Op: opResult, Hash: hash, Output: fuzzInput, OutputSize: MaxOutput + 1},
		"output no hash":     {Op: opResult, Output: fuzzInput, OutputSize: InlineResult + 1},
		"output and failure": {Op: opResult, Hash: hash, Output: fuzzInput, OutputSize: InlineResult + 1, ErrKind: kindTrap},
		"module in a result": {Op: opResult, Module: fuzzModule, ModuleSize: 1},
	} {
		hdr, _ := json.Marshal(m)
		if _, err := decodeMessage(hdr); !errors.Is(err, errProtocol) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	hdr, _ = json.Marshal(good)
	if got, err := decodeMessage(hdr); err != nil || got.Input != fuzzInput || got.InputSize != 5 {
		t.Errorf("good unit: %+v, %v", got, err)
	}
	hdr, _ = json.Marshal(message{Op: opResult, Hash: hash, Output: fuzzInput, OutputSize: InlineResult + 1})
	if _, err := decodeMessage(hdr); err != nil {
		t.Errorf("result with an output content id: %v", err)
	}
	// A header over 64 KiB is refused by the framing.
	buf.Reset()
	_ = p2p.WriteMsg(&buf, make([]byte, maxHeader+1))
	if _, _, err := readMessage(&buf); !errors.Is(err, p2p.ErrMsgTooLarge) {
		t.Errorf("huge header: %v", err)
	}
}
