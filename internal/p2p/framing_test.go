package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestMsgRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{{}, []byte("hello"), bytes.Repeat([]byte{7}, smallMsg),
		bytes.Repeat([]byte{9}, 3*smallMsg+1), bytes.Repeat([]byte{3}, eagerAlloc+5)}
	for _, m := range msgs {
		if err := WriteMsg(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		got, err := ReadMsg(&buf, 1<<20)
		if err != nil {
			t.Fatalf("msg %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("msg %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, err := ReadMsg(&buf, 1<<20); err != io.EOF {
		t.Fatalf("after last message: err = %v, want io.EOF", err)
	}
}

// headerOnly serves a length header and fails the test if anything past it
// is read.
type headerOnly struct {
	t   *testing.T
	hdr []byte
}

func (h *headerOnly) Read(p []byte) (int, error) {
	if len(h.hdr) == 0 {
		h.t.Fatal("ReadMsg read past the length header of an oversized message")
	}
	n := copy(p, h.hdr)
	h.hdr = h.hdr[n:]
	return n, nil
}

func TestReadMsgTooLargeBeforeReading(t *testing.T) {
	for _, size := range []uint64{1025, 1 << 40, 1<<64 - 1} {
		hdr := binary.AppendUvarint(nil, size)
		_, err := ReadMsg(&headerOnly{t: t, hdr: hdr}, 1024)
		if !errors.Is(err, ErrMsgTooLarge) {
			t.Errorf("size %d: err = %v, want ErrMsgTooLarge", size, err)
		}
	}
	// Exactly max is fine.
	var buf bytes.Buffer
	_ = WriteMsg(&buf, make([]byte, 1024))
	if m, err := ReadMsg(&buf, 1024); err != nil || len(m) != 1024 {
		t.Errorf("max-sized message: %d bytes, %v", len(m), err)
	}
	// A negative max allows only empty messages.
	buf.Reset()
	_ = WriteMsg(&buf, []byte{1})
	if _, err := ReadMsg(&buf, -1); !errors.Is(err, ErrMsgTooLarge) {
		t.Errorf("negative max: %v", err)
	}
}

func TestReadMsgMalformed(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"truncated header": {[]byte{0x80}, io.ErrUnexpectedEOF},
		"truncated body":   {[]byte{5, 'a', 'b'}, io.ErrUnexpectedEOF},
		"truncated large":  {append(binary.AppendUvarint(nil, eagerAlloc+10), 1, 2, 3), io.ErrUnexpectedEOF},
		"varint overflow":  {bytes.Repeat([]byte{0xff}, 10), ErrBadLength},
		"varint too long":  {append(bytes.Repeat([]byte{0x80}, 10), 0), ErrBadLength},
	} {
		_, err := ReadMsg(bytes.NewReader(tc.in), 1<<20)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

// FuzzReadMsg checks that ReadMsg never panics, never returns more than
// max bytes, and that whatever it accepts re-encodes to the bytes it read.
func FuzzReadMsg(f *testing.F) {
	f.Add([]byte{0}, 16)
	f.Add([]byte{3, 'a', 'b', 'c'}, 16)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 16)
	f.Add([]byte{0x80, 0x01}, 1000)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		max %= 1 << 20 // keep allocations small; negative stays negative
		r := bytes.NewReader(data)
		msg, err := ReadMsg(r, max)
		if err != nil {
			if msg != nil {
				t.Fatalf("error %v with non-nil message", err)
			}
			return
		}
		if len(msg) > max && len(msg) > 0 { // a negative max acts as 0
			t.Fatalf("returned %d bytes, max %d", len(msg), max)
		}
		consumed := len(data) - r.Len()
		var buf bytes.Buffer
		if err := WriteMsg(&buf, msg); err != nil {
			t.Fatal(err)
		}
		// Non-minimal varints are accepted, so compare the body and the
		// decoded length rather than the raw header bytes.
		if !bytes.Equal(data[consumed-len(msg):consumed], msg) {
			t.Fatalf("message is not the bytes read")
		}
		if got, _ := ReadMsg(&buf, max); !bytes.Equal(got, msg) {
			t.Fatalf("round trip changed the message")
		}
	})
}
