package msg

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/peerpath/peerpath/internal/msg/ratchet"
)

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(envelope{Init: make([]byte, ratchet.InitSize), CT: []byte("x")}.encode())
	f.Add(envelope{SID: [sidSize]byte{1}, CT: []byte("abc")}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		if len(b) > maxEnvelope || !bytes.Equal(e.encode(), b) {
			t.Fatal("envelope accepted out of bounds or does not round-trip")
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	f.Add([]byte(`{"k":"text","i":"00112233445566778899aabbccddeeff","t":1,"x":"hi"}`))
	f.Add([]byte(`{"k":"rcpt","r":["00112233445566778899aabbccddeeff"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePayload(b)
		if err != nil {
			return
		}
		if len(p.Text) > MaxText || len(p.Refs) > maxRefs || (p.Group != nil && len(p.Group.Members) > MaxGroupMembers) {
			t.Fatalf("accepted payload over its bounds: %+v", p)
		}
	})
}

func FuzzDecodeMailboxRequest(f *testing.F) {
	f.Add(encodeMailboxRequest(mailboxRequest{Op: opPut, Tags: [][tagSize]byte{{1}}, Blob: envelope{SID: [sidSize]byte{1}}.encode()}))
	f.Add(encodeMailboxRequest(mailboxRequest{Op: opGet, Tags: [][tagSize]byte{{1}, {2}}}))
	f.Add(encodeMailboxRequest(mailboxRequest{Op: opAck, Tags: [][tagSize]byte{{1}}, Items: [][itemIDSize]byte{{2}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeMailboxRequest(b)
		if err != nil {
			return
		}
		if len(r.Tags) > maxGetTags*16 || len(r.Blob) > maxEnvelope || (r.Op == opAck && len(r.Items) != len(r.Tags)) {
			t.Fatalf("accepted request over its bounds: op %d, %d tags", r.Op, len(r.Tags))
		}
		if !bytes.Equal(encodeMailboxRequest(r), b) {
			t.Fatal("request does not round-trip")
		}
	})
}

func FuzzDecodeItems(f *testing.F) {
	f.Add(encodeItems([]item{{Tag: [tagSize]byte{1}, ID: [itemIDSize]byte{2}, Blob: []byte("xyz")}})[1:])
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := decodeItems(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeItems(items)[1:], b) {
			t.Fatal("items do not round-trip")
		}
	})
}

func FuzzDecodeGroupWire(f *testing.F) {
	f.Add(append([]byte{1, 0, 0, 0, 1, 0, 0, 0, 0}, make([]byte, 32)...))
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		epoch, iter, ct, err := decodeGroupWire(b)
		if err != nil {
			return
		}
		if len(b) > maxGroupWire || len(ct) < 16 || len(ct)+groupWireHeader != len(b) ||
			binary.BigEndian.Uint32(b[1:]) != epoch || binary.BigEndian.Uint32(b[5:]) != iter {
			t.Fatal("group message accepted out of bounds or misread")
		}
	})
}
