package transfer

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/peerpath/peerpath/internal/content"
)

// FuzzReadRequest feeds arbitrary bytes to the server's request decoder: it
// must never panic, and every request it accepts must re-encode to the bytes
// it consumed.
func FuzzReadRequest(f *testing.F) {
	f.Add(appendRequest(nil, opChunk, content.ChunkID([]byte("a"))))
	f.Add([]byte{opManifest, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			before := len(data) - r.Len()
			req, err := readRequest(r)
			if err != nil {
				if errors.Is(err, io.EOF) && before != len(data) {
					t.Fatalf("clean EOF with %d bytes left", len(data)-before)
				}
				return
			}
			used := data[before : len(data)-r.Len()]
			if !bytes.Equal(appendRequest(nil, req.op, req.id), used) {
				t.Fatalf("request %v does not re-encode to %x", req, used)
			}
		}
	})
}

// FuzzReadResponse feeds arbitrary bytes to the client's response decoder:
// it must never panic, never accept a length outside the bounds it was given,
// and never return an unprintable or oversized remote message.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte{statusOK, 0, 0, 0, 4, 1, 2, 3, 4}, 4, 4)
	f.Add([]byte{statusNotFound, 0, 0, 0, 3, 'a', 0x1b, 'c'}, 0, 10)
	f.Fuzz(func(t *testing.T, data []byte, min, max int) {
		n, err := readResponseHeader(bytes.NewReader(data), min, max)
		var re *RemoteError
		switch {
		case err == nil:
			if n < min || n > max {
				t.Fatalf("accepted length %d outside [%d,%d]", n, min, max)
			}
		case errors.As(err, &re):
			if len(re.Message) > maxMessageLen {
				t.Fatalf("message of %d bytes", len(re.Message))
			}
			for _, c := range []byte(re.Message) {
				if c < 0x20 || c > 0x7e {
					t.Fatalf("unprintable byte %#x in message", c)
				}
			}
		}
	})
}

// FuzzParseFileLog feeds arbitrary bytes to the sidecar record parser (a
// file a crash may have left torn): it must never panic, and must accept only
// whole, checksummed records after the right header.
func FuzzParseFileLog(f *testing.F) {
	l := &fileLog{id: content.ChunkID([]byte("m"))}
	h := l.header()
	f.Add(append(append([]byte(nil), h...), 1, 0, 0, 0, 0xa5, 0x05, 0xdf, 0x1b))
	f.Add([]byte("PPXFER1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, good, ok := parseFileLog(data, h)
		if !ok {
			if bytes.HasPrefix(data, h) {
				t.Fatal("refused a record with the right header")
			}
			return
		}
		if good > int64(len(data)) || good != int64(len(h)+8*len(idx)) {
			t.Fatalf("good %d for %d records in %d bytes", good, len(idx), len(data))
		}
	})
}
